// Clouds prints, for each national cloud in which Graph offers event
// attachments, the Graph root, the token scope and the Entra ID authority
// host of the matching azcore cloud.Configuration. It runs offline: nothing
// here touches the network.
//
//	go run ./examples/clouds
//
// One eventattach.Cloud value drives both the credential and the client:
//
//	c := eventattach.CloudUSGovL4
//	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: c.AzureCloud()}})
//	client, err := eventattach.NewClient(cred, &eventattach.ClientOptions{Cloud: c})
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"text/tabwriter"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
)

// noToken stands in for a real credential: NewClient needs one, but this
// example sends no request.
type noToken struct{}

func (noToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("this example fetches no token")
}

func main() {
	log.SetFlags(0)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cloud\tGraph root\tscope\tazidentity authority host\tclient base URL")
	for _, c := range []eventattach.Cloud{eventattach.CloudGlobal, eventattach.CloudUSGovL4, eventattach.CloudUSGovL5, eventattach.CloudChina} {
		// The options a credential for this cloud takes.
		opts := azidentity.DefaultAzureCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: c.AzureCloud()}}
		client, err := eventattach.NewClient(noToken{}, &eventattach.ClientOptions{Cloud: c})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.GraphEndpoint, c.Scope(),
			opts.ClientOptions.Cloud.ActiveDirectoryAuthorityHost, client.BaseURL())
	}
	tw.Flush()

	// A cloud the SDK does not know by name is built from its two roots.
	custom := eventattach.Cloud{Name: "sovereign", GraphEndpoint: "https://graph.example.test", AuthorityHost: "https://login.example.test/"}
	client, err := eventattach.NewClient(noToken{}, &eventattach.ClientOptions{Cloud: custom})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\ncustom: %s, scope %s, authority %s\n", client.BaseURL(), custom.Scope(), custom.AzureCloud().ActiveDirectoryAuthorityHost)

	// An unknown name without roots is refused before anything is sent.
	_, err = eventattach.NewClient(noToken{}, &eventattach.ClientOptions{Cloud: eventattach.Cloud{Name: "mars"}})
	fmt.Println("unknown cloud:", err)
	fmt.Println("note: upload sessions (files of 3 MiB or more) are not available in every national cloud")
}
