package eventattach

import "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

// AzureCloud returns azcore's cloud.Configuration for c, so one setting
// drives both the credential and this SDK:
//
//	cred, _ := azidentity.NewClientSecretCredential(tenant, id, secret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: eventattach.CloudUSGovL4.AzureCloud()}})
//	client, _ := eventattach.NewClient(cred, &eventattach.ClientOptions{Cloud: eventattach.CloudUSGovL4})
//
// A cloud given by Name only (Cloud{Name: "usgovl5"}) is the national cloud
// of that name, as in NewClient.
func (c Cloud) AzureCloud() cloud.Configuration {
	switch c.known() {
	case CloudGlobal:
		return cloud.AzurePublic
	case CloudUSGovL4, CloudUSGovL5:
		return cloud.AzureGovernment
	case CloudChina:
		return cloud.AzureChina
	}
	// A custom cloud (a sovereign or private deployment): its own authority.
	return cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
}

// known returns the national cloud c names: the zero value is CloudGlobal,
// and a Cloud with a Name but no GraphEndpoint is the cloud of that name.
// Any other c is returned as it is.
func (c Cloud) known() Cloud {
	if c.GraphEndpoint == "" {
		if k, err := resolveCloud(c); err == nil {
			return k
		}
	}
	return c
}
