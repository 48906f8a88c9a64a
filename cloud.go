package eventattach

import "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

// AzureCloud returns azcore's cloud.Configuration for c, so one setting
// drives both the credential and this SDK:
//
//	cred, _ := azidentity.NewClientSecretCredential(tenant, id, secret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: eventattach.CloudUSGovL4.AzureCloud()}})
//	client, _ := eventattach.NewClient(cred, &eventattach.ClientOptions{Cloud: eventattach.CloudUSGovL4})
func (c Cloud) AzureCloud() cloud.Configuration {
	switch c {
	case CloudGlobal, Cloud{}:
		return cloud.AzurePublic
	case CloudUSGovL4, CloudUSGovL5:
		return cloud.AzureGovernment
	case CloudChina:
		return cloud.AzureChina
	}
	// A custom cloud (a sovereign or private deployment): its own authority.
	return cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
}
