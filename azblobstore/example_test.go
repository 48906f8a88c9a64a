package azblobstore_test

import (
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/azblobstore"
)

// Replicas of one job share their idempotency keys through one container
// (made beforehand, e.g. with az storage container create), each with an
// identity that has the Storage Blob Data Contributor role on it.
func ExampleNewFromURL() {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	store, err := azblobstore.NewFromURL("https://myaccount.blob.core.windows.net/eventattach-keys", cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := eventattach.NewClient(cred, &eventattach.ClientOptions{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	_ = client // client.Users(...).Events(...).Attachments().AddFile(ctx, att, &eventattach.AddOptions{Key: taskID})
}
