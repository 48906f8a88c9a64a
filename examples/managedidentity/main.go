// Managedidentity shows the credential for jobs hosted on Azure: a managed
// identity, so there is no secret to store or rotate. Grant the identity the
// Microsoft Graph application permission Calendars.ReadWrite (an app-only
// credential uses Users(...), not Me()).
//
//	go run ./examples/managedidentity
//
// Where no managed identity is announced (no IDENTITY_ENDPOINT or
// MSI_ENDPOINT, as on a laptop or in CI) it says so and exits 0 without
// touching the network. Virtual machines, scale sets and AKS pod identity
// announce nothing: the instance metadata service answers at a fixed
// address, so pass -imds there. On AKS with workload identity
// (AZURE_FEDERATED_TOKEN_FILE) use azidentity.NewWorkloadIdentityCredential
// the same way. With GRAPH_USER and GRAPH_EVENT_ID set it lists that event's
// attachments.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
)

func main() {
	imds := flag.Bool("imds", false, "use the instance metadata service (Azure VMs, scale sets, AKS pod identity)")
	flag.Parse()
	log.SetFlags(0)

	// App Service, Functions, Container Apps, Service Fabric and Azure Arc
	// set IDENTITY_ENDPOINT; Cloud Shell sets MSI_ENDPOINT.
	if os.Getenv("IDENTITY_ENDPOINT") == "" && os.Getenv("MSI_ENDPOINT") == "" && !*imds {
		fmt.Println("no managed identity here: IDENTITY_ENDPOINT and MSI_ENDPOINT are unset.")
		fmt.Println("On an Azure VM, scale set or AKS node pass -imds; elsewhere use azidentity.NewDefaultAzureCredential.")
		return
	}

	var opts azidentity.ManagedIdentityCredentialOptions
	if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
		opts.ID = azidentity.ClientID(id) // a user-assigned identity; unset means system-assigned
	}
	cred, err := azidentity.NewManagedIdentityCredential(&opts)
	if err != nil {
		log.Fatal(err)
	}
	client, err := eventattach.NewClient(cred, nil)
	if err != nil {
		log.Fatal(err)
	}
	user, eventID := os.Getenv("GRAPH_USER"), os.Getenv("GRAPH_EVENT_ID")
	if user == "" || eventID == "" {
		fmt.Println("managed identity credential ready; set GRAPH_USER and GRAPH_EVENT_ID to list an event's attachments")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	atts, err := client.Users(user).Events(eventID).Attachments().List(ctx)
	if err != nil {
		log.Fatal(err) // a *GraphError: ErrForbidden means the permission is missing
	}
	fmt.Printf("event %s has %d attachment(s)\n", eventID, len(atts))
	for _, a := range atts {
		fmt.Printf("  %s\n", a.AttachmentName())
	}
}
