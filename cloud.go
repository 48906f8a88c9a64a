package eventattach

import "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

// AzureCloud returns azcore's cloud.Configuration for c, so one setting
// drives both the credential and this SDK:
//
//	cred, _ := azidentity.NewClientSecretCredential(tenant, id, secret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: eventattach.CloudUSGovL4.AzureCloud()}})
//	client, _ := eventattach.NewClient(cred, &eventattach.ClientOptions{Cloud: eventattach.CloudUSGovL4})
func (c Cloud) AzureCloud() cloud.Configuration {
	switch c.Name {
	case CloudGlobal.Name, "":
		return cloud.AzurePublic
	case CloudUSGovL4.Name, CloudUSGovL5.Name:
		return cloud.AzureGovernment
	case CloudChina.Name:
		return cloud.AzureChina
	}
	return cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
}
