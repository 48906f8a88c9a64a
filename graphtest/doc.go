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
// By default it answers like real Graph as far as anyone documents it (the
// module's GRAPH-FACTS.md, which users can read too; each modelled behaviour
// names its source in a comment), and Options offer the other shapes seen in
// the wild:
//
//   - createUploadSession answers 201 with @odata.context, uploadUrl,
//     expirationDateTime and nextExpectedRanges ["0-"]. The uploadUrl is
//     Outlook's: http://{upload host}/api/v2.0/Users('{userId}@{tenantId}')/
//     Events('{eventId}')/AttachmentSessions('{sessionId}')?authtoken=…
//     (Options.UploadPathVersion: "gv1.0", "gbeta").
//   - An intermediate chunk answers 200 with mixed-case keys, as the docs'
//     example: @odata.context, "ExpirationDateTime" (fixed at creation) and
//     "nextExpectedRanges":["2097152"], a start offset without a dash
//     (Options.PascalCaseUploads, Options.UploadRanges for the others).
//   - The last chunk answers 201 with an empty body and a Location on the
//     upload host ending in Attachments('{attachmentId}').
//   - An Authorization header on the upload listener answers 401
//     InvalidAudience; item attachments in a session 405; sessions under
//     Options.MinUploadSize (3,000,000 bytes, the docs' 3 MB; a user
//     measured 2 MiB) ErrorAttachmentSizeShouldNotBeLessThanMinimumSize;
//     Options.MaxMessageSize makes an upload fail mid-way with
//     ErrorMessageSizeExceeded.
//   - Errors from the upload listener are {"error":{"code","message"}}
//     without innerError, as Outlook's upload host answers; its 401s carry
//     innerError.oAuthEventOperationId. The Graph listener's errors keep
//     innerError {date, request-id, client-request-id}.
//   - A chunk may carry up to 4 MiB (Options.MaxChunkSize); a bigger one
//     answers 400 "Maximum request length exceeded." (assumed,
//     Options.ChunkTooLarge). Chunks need not be multiples of 320 KiB.
//     Options.FreshSessionNotFound makes the first PUT of a fresh session
//     answer 404 ErrorItemNotFound, as users saw (off by default).
//   - createUploadSession is served on /me/events/{id} and
//     /users/{id}/events/{id} only, as documented; other event routes
//     answer 400 BadRequest "Resource not found for the segment
//     'createUploadSession'." (assumed, Options.UndocumentedSessionRoutes).
//   - An unknown user on /users/{id}/... answers 404 ErrorInvalidUser
//     "The requested user '{id}@{tenantId}' is invalid." (Options.UnknownUser);
//     a user made with Server.UserWithoutMailbox answers 404
//     MailboxNotEnabledForRESTAPI.
//   - A reported attachment size is not the byte count (178 for the seed's
//     20 bytes): compare StoredAttachment.Content, never Size.
//   - POST bodies over 4 MiB answer 400 "Maximum request length exceeded."
//     (Options.RequestTooLarge); no @odata.type 422 UnprocessableType; no
//     contentBytes 400 ErrorRequiredPropertyMissing; unparsable JSON 400
//     UnableToDeserializePostBody.
//   - Attachment lists answer in one page with no @odata.nextLink; $top,
//     $skip and $filter are silently ignored, and so (a stated choice:
//     nobody reports them) are $orderby and $count (Options.PageSize > 0
//     pages with a nextLink; Options.OrderByCountRefused). A list without
//     $select leaves out the contentBytes of files over 3,000,000 bytes
//     (Options.ListContentBytesLimit); a single GET always has them.
//   - File attachments in lists and GETs carry @odata.mediaContentType
//     (kept under $select); no attachment has an @odata.etag;
//     lastModifiedDateTime is whole seconds with Z; contentLocation is
//     always null, contentId null unless set. $select of contentId,
//     contentBytes or contentLocation named plainly answers 400
//     RequestBroker--ParseUri; the cast form
//     microsoft.graph.fileAttachment/contentId is taken
//     (Options.CastSelectUnsupported).
//   - Reference attachments (seed with Event.AddReferenceAttachment) read
//     as #microsoft.graph.referenceAttachment with the v1.0 base properties
//     only; their $value answers 405. POSTing one without sourceUrl answers
//     400 ErrorInvalidProperty, with sourceUrl 400 RequestBodyRead
//     (Options.ReferenceSourceURLAccepted).
//   - Recurring series (Mailbox.AddSeries, Event.AddOccurrence,
//     AddException): an occurrence shows its master's attachments
//     (Options.OccurrenceHidesMasterAttachments); adding one to it makes it
//     an exception holding only its own (Options.OccurrenceWrites).
//   - Each mailbox has Outlook's upload budget of 150 MB of PUT/POST/PATCH
//     bodies per 5 minutes (Options.UploadByteLimit, UploadByteWindow) on top
//     of its 4 concurrent requests; both answer 429 ApplicationThrottled
//     with Retry-After Options.ThrottleRetryAfter, sent verbatim.
//
// Options.Clock lets a test step time (session expiry, the byte window)
// instead of sleeping.
//
// To run the emulator as its own process, for code that is not a Go test,
// see the command graphtest/cmd/graphtest (Options.Addr and UploadAddr
// choose its ports).
//
// The emulator is strict on purpose: wrong content types, unknown JSON
// properties, invalid base64, oversized bodies, unknown route shapes,
// out-of-order upload chunks and Authorization headers on upload URLs are all
// rejected with Graph's status codes and error bodies, so client bugs show up
// as errors instead of passing silently. It also throttles per mailbox
// (Outlook's MailboxConcurrency limit) and lets a test script faults per
// request (Inject) or draw them at random (RandomFaults): error statuses
// (with Graph's error body, or the odd 5xx bodies users pasted: Fault.Body),
// connection resets before or after the change is stored, truncated or slow
// bodies, redirects and latency.
//
// Everything a test needs to check afterwards is inspectable: the stored
// attachments (Server.Attachments), every request received on both listeners
// (Server.Requests), and how many faults were injected (Server.FaultsInjected).
//
// Seeding: the signed-in user ("/me") has id "me-0000" and userPrincipalName
// "me@contoso.com". Mailboxes, calendar groups, calendars and events exist
// only once a test adds them; any other id answers 404 ErrorItemNotFound
// (an unknown user 404 ErrorInvalidUser).
//
// Events in group calendars may refuse attachments in the real service (the
// current Graph documentation only lists user routes); the emulator accepts
// them on the routes of the older documentation but offers no upload
// sessions there, since those are not documented for groups.
package graphtest
