// Package graphtest is an in-process Microsoft Graph emulator for the
// event-attachment API, the way net/http/httptest is for net/http.
//
// NewServer starts two loopback listeners: one serves the Graph v1.0 routes
// (its version root is Server.URL, which a client takes as its base URL), the
// other serves upload sessions on a different host:port, as Outlook does, so
// a client that sends its Graph token or base URL to an upload URL is caught.
// Server.Credential is an azcore.TokenCredential whose tokens the Graph
// listener accepts; Server.ExpireTokens revokes them all.
//
//	srv := graphtest.NewServer(nil)
//	defer srv.Close()
//	srv.Me().AddEvent("AAMkAGI1AAAt9AHjAAA=")
//	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
//
// The emulator is strict on purpose: wrong content types, unknown JSON
// properties, invalid base64, oversized bodies, unknown route shapes,
// out-of-order upload chunks and Authorization headers on upload URLs are all
// rejected with Graph's status codes and error bodies, so client bugs show up
// as errors instead of passing silently. It also throttles per mailbox
// (Outlook's MailboxConcurrency limit) and lets a test script faults per
// request (Inject) or draw them at random (RandomFaults): error statuses,
// connection resets before or after the change is stored, truncated or slow
// bodies, redirects and latency.
//
// Everything a test needs to check afterwards is inspectable: the stored
// attachments (Server.Attachments), every request received on both listeners
// (Server.Requests), and how many faults were injected (Server.FaultsInjected).
//
// Seeding: the signed-in user ("/me") has id "me-0000" and userPrincipalName
// "me@contoso.com". Mailboxes, calendar groups, calendars and events exist
// only once a test adds them; any other id answers 404 ErrorItemNotFound.
//
// Events in group calendars may refuse attachments in the real service (the
// current Graph documentation only lists user routes); the emulator accepts
// them on the routes of the older documentation but offers no upload
// sessions there, since those are not documented for groups.
package graphtest
