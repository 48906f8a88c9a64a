// Package eventattach adds file and item attachments to Microsoft Graph
// calendar events, lists, reads, downloads and deletes them, and uploads
// large files through upload sessions. It covers exactly Graph's event-attachment API
// (v1.0), with a fluent route builder, typed errors, retries that never
// create a duplicate, and an in-process emulator for tests (package
// graphtest).
//
// A client takes any azidentity credential:
//
//	cred, err := azidentity.NewDefaultAzureCredential(nil)
//	if err != nil { ... }
//	client, err := eventattach.NewClient(cred, nil)
//	if err != nil { ... }
//	att, err := client.Users("adele@contoso.com").Events(eventID).Attachments().AddFile(ctx,
//		&eventattach.FileAttachment{Name: "agenda.txt", ContentType: "text/plain", ContentBytes: data})
//
// The app needs the Graph permission Calendars.ReadWrite (delegated or
// application). Me needs a delegated credential; app-only credentials name
// the user with Users. A Client is safe for concurrent use: create one per
// credential and reuse it.
//
// # Routes
//
// Each node of the builder is a small immutable value; a chain compiles only
// where Graph documents a route. Every route ends in
// .../events/{id}/attachments, which [Attachments.Path] returns:
//
//	/me/events/{id}                                                 Me().Events(id)
//	/me/calendar/events/{id}                                        Me().Calendar().Events(id)
//	/me/calendars/{id}/events/{id}                                  Me().Calendars(c).Events(id)
//	/me/calendargroup/calendars/{id}/events/{id}                    Me().CalendarGroup().Calendars(c).Events(id)
//	/me/calendarGroups/{id}/calendars/{id}/events/{id}              Me().CalendarGroups(g).Calendars(c).Events(id)
//	/users/{id|upn}/events/{id}                                     Users(u).Events(id)
//	/users/{id|upn}/calendar/events/{id}                            Users(u).Calendar().Events(id)
//	/users/{id|upn}/calendars/{id}/events/{id}                      Users(u).Calendars(c).Events(id)
//	/users/{id|upn}/calendargroup/calendars/{id}/events/{id}        Users(u).CalendarGroup().Calendars(c).Events(id)
//	/users/{id|upn}/calendarGroups/{id}/calendars/{id}/events/{id}  Users(u).CalendarGroups(g).Calendars(c).Events(id)
//	/groups/{id}/events/{id}                                        Groups(g).Events(id)
//	/groups/{id}/calendar/events/{id}                               Groups(g).Calendar().Events(id)
//
// The calendargroup (default group) and /groups routes come from the older
// Graph page; the current documentation lists only the user routes and warns
// that events in group calendars may refuse attachments.
//
// Each id is escaped as exactly one path segment, so no id can change the
// shape of the URL. An empty, "." or ".." id is ErrInvalidInput at the first
// call that would send a request, and nothing is sent.
//
// # Limits
//
// [Attachments.AddFile], [Attachments.AddItem] and [Attachments.Add] send
// the attachment in one POST; a file's bytes must be under [MaxAddFileSize]
// (3,000,000: Graph's "under 3 MB", a margin below the largest file measured
// to fit Graph's 4 MiB request limit) and an item's JSON under [MaxAddSize]
// (3 MiB). Larger content is [ErrTooLarge] before any request.
//
// [Attachments.Upload] takes any [io.Reader] of a known Size up to
// [MaxUploadSize] (150 MiB). Under MaxAddFileSize it POSTs like AddFile; from
// MaxAddFileSize on it opens an upload session and streams the content in chunks
// (FileUpload.ChunkSize, up to 4 MB; 3.75 MiB by
// default), holding one chunk in memory and calling FileUpload.Progress after
// each. Graph offers upload sessions only on /me/events/{id} and
// /users/{id}/events/{id}: Upload maps any user route (calendar, calendars,
// calendar groups) to the one of its mailbox, and refuses from MaxAddFileSize on
// for group events (ErrInvalidInput). The chunks go to the pre-authenticated
// upload URL Graph returns without the bearer token, and the URL's authtoken
// appears in no log and no error. A failed chunk is retried from what the
// session reports it holds; a cancelled or failed upload deletes its session.
// Upload sessions are not available in every national cloud.
//
// Upload needs the exact size first. Content of unknown length (a request
// body, a pipe) goes through [Spool], which reads it to its end, into memory
// under MaxAddFileSize and otherwise into a temporary file, and refuses more than
// MaxUploadSize with ErrTooLarge; its result is both the Content and, with
// Size(), the Size of a FileUpload.
//
// # Downloading
//
// [Attachments.Get] returns one attachment with its content (a file's
// ContentBytes, decoded from base64). [Attachments.Content] streams a file
// attachment's raw bytes instead, GET {route}/attachments/{id}/$value,
// without holding them in memory; close the reader it returns.
//
// # Errors
//
// Every answer from Graph that is not a success is a [*GraphError]: the HTTP
// status, Graph's error.code and error.message, the request-id and the
// client-request-id this SDK sent (the same on every retry of one call),
// Retry-After, and the raw body (at most 64 KiB). Its Error is one line that
// always carries the code and both request ids, which is what Microsoft
// support asks for.
//
// A *GraphError answers errors.Is for the sentinel of its status:
// ErrNotFound (404), ErrUnauthorized (401), ErrForbidden (403), ErrTooLarge
// (413, 400 "Maximum request length exceeded.", ErrorMessageSizeExceeded)
// and ErrThrottled (429). ErrInvalidInput and ErrTooLarge also report input
// refused before anything is sent. [ErrOutcomeUnknown] reports a create that
// may or may not have landed (see Duplicate check). Branch on the sentinel or on Code,
// never on Message, which Graph may reword or translate:
//
//	_, err := atts.AddFile(ctx, f)
//	var ge *eventattach.GraphError
//	switch {
//	case errors.Is(err, eventattach.ErrNotFound):
//		// no such mailbox, calendar or event
//	case errors.As(err, &ge) && ge.Code == "ErrorAccessDenied":
//		log.Printf("denied; request-id %s", ge.RequestID)
//	}
//
// # Retries and throttling
//
// A request that surely was not processed is retried: 429 and 503 (honouring
// Retry-After), a connection error before the request was written, and a 401
// with an expired token or a continuous access evaluation challenge (once,
// with a fresh token). GET, DELETE, SendUpdate's PATCH and the POST that
// opens an upload session (none of which can duplicate an attachment) are
// also retried after a 504 or another 5xx, a connection lost after writing,
// or a cut-off answer. Waits follow
// Retry-After (seconds or an HTTP date), otherwise exponential backoff with
// jitter from RetryOptions.BaseDelay (500ms), each capped by
// RetryOptions.MaxDelay (60s), for up to RetryOptions.MaxRetries (4) retries.
// A Retry-After longer than MaxDelay, or a wait that would outlast the ctx
// deadline, is not slept: the answer is returned at once as a *GraphError
// with RetryAfter set, so the caller can schedule the work later.
//
// What is sent again, and when, is one table (a request that may have
// landed is never sent again before Graph's state is read); see Duplicate
// check for how that state is read.
//
// Outlook allows four concurrent requests per mailbox and answers 429 beyond
// that; the client queues requests per mailbox to ClientOptions.MailboxConcurrency
// (4 by default), so many goroutines can share one client without being
// throttled for it. Every wait honours ctx.
//
// ClientOptions.Logger (a [*slog.Logger]) gets one record per attempt with the
// method, the path, the status, the attempt number and Graph's request-id;
// never a token, content or a query string.
//
// # Duplicate check
//
// A create whose request may have reached Graph but got no usable answer (a
// POST answered 504 or 500, a connection lost after the request was sent, a
// cut-off 201, or an upload whose last chunk's answer was lost) is never
// sent again blindly. The SDK first lists the event's attachments (metadata
// only) and looks for the one it sent. An attachment is taken for it when
// all of these hold:
//
//   - the same kind (file or item) and inline flag, and the name exactly as
//     Graph stores it (bytes that are not valid UTF-8 become U+FFFD);
//   - modified no earlier than the call's start, put on Graph's clock with
//     the list answer's Date header, less one minute for the skew between
//     Graph's front ends and the mailbox store;
//   - for a file: the same content id and content type (any, when the call
//     left it to Graph), read from its metadata, and the same bytes, read
//     back through $value (length and a 64-bit hash);
//   - for an item: the same item type and the item's own fields (a subject,
//     a contact's names, a text body), read back with
//     $expand=microsoft.graph.itemattachment/item.
//
// Candidates are read newest first; the first that matches is the result
// of the call, which then succeeds without sending anything again. With
// none, the request is sent again (if retries are left). The check's reads
// are retried like any GET. When they fail anyway, or ctx ends before the
// check could run, the call fails with [ErrOutcomeUnknown]: the attachment
// may exist. If ctx ends while an answer that may hold a success is
// arriving, the check still runs, for at most five seconds.
//
// Limits of the rule: an identical attachment (same name, flags and bytes)
// added by someone else within the minute before the call may be taken for
// the call's own, and two calls attaching identical content to the same
// event at the same time may both be answered with one of them.
//
// # Idempotency keys
//
// The check above runs within one call. For jobs that run on several
// processes, restart and see messages twice, [AddOptions].Key and
// [FileUpload].Key bind a caller's task id to at most one attachment
// across every process sharing [ClientOptions].Store ([NewDirStore] on one
// host; the azblobstore module for replicas). A keyed call holds the key's
// lease while it runs and records its outcome; a later call with the key
// returns the recorded attachment without a Graph request. When an earlier
// holder died mid-call, the next one waits until that holder's requests
// can no longer land (its lease's end, one request's bound, and
// [ClientOptions].CommitLag) before it runs the check, with no time window,
// or resumes the holder's upload session. A keyed call that loses an
// answer waits CommitLag before its own check.
//
// # National clouds
//
// ClientOptions.Cloud picks the Graph deployment; the token scope is its
// Graph root + "/.default":
//
//	CloudGlobal   https://graph.microsoft.com              https://login.microsoftonline.com/
//	CloudUSGovL4  https://graph.microsoft.us               https://login.microsoftonline.us/
//	CloudUSGovL5  https://dod-graph.microsoft.us           https://login.microsoftonline.us/
//	CloudChina    https://microsoftgraph.chinacloudapi.cn  https://login.chinacloudapi.cn/
//
// [Cloud.AzureCloud] returns the matching azcore cloud.Configuration, so one
// value drives both the credential and the client:
//
//	c := eventattach.CloudUSGovL4
//	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: c.AzureCloud()}})
//	client, err := eventattach.NewClient(cred, &eventattach.ClientOptions{Cloud: c})
//
// # Testing with graphtest
//
// Package [github.com/eventattach/eventattach/graphtest] is an in-process Graph emulator, the way
// net/http/httptest serves net/http: seed mailboxes and events, point a
// client at it with ClientOptions.BaseURL, inject faults, and inspect what it
// stored and received.
//
//	srv := graphtest.NewServer(nil)
//	defer srv.Close()
//	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
//	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
//	srv.Inject(graphtest.Fault{Method: "POST", Kind: graphtest.FaultStatusAfterStore, Status: 504})
//	// ... run your code, then check srv.Attachments("adele@contoso.com", "AAMkEvt=")
//
// The programs in the repository's examples directory run offline against it
// too: go run ./examples/quickstart.
package eventattach
