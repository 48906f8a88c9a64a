package graphtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options tunes a Server. The zero value (or a nil *Options) answers like
// real Graph as far as it is documented (GRAPH-FACTS.md at the module root);
// each field whose default no source documents says so and states the
// default it picks.
type Options struct {
	// MailboxConcurrency is how many requests may be in flight per mailbox
	// before the next one gets 429 ApplicationThrottled; 0 means 4 (Outlook's
	// limit), a negative value means unlimited. Requests on the upload
	// listener count against the mailbox of their session too. A request
	// is in flight from when it is admitted until its answer starts.
	MailboxConcurrency int
	// ThrottleRetryAfter is the Retry-After value sent, verbatim, with every
	// 429 the server itself decides on (MailboxConcurrency and the upload
	// byte budget); "" means "1". Decimals such as "0.249" have been seen
	// from Graph (microsoft-graph-docs#3877).
	ThrottleRetryAfter string
	// PageSize makes attachment lists page: with PageSize > 0 a list answers
	// at most PageSize attachments (a request's $top, 1 to 1000, overrides
	// it) and an @odata.nextLink with a $skiptoken for the rest. 0 (or a
	// negative value), the default, answers every attachment in one page
	// with no nextLink and ignores $top and $skip, as users report for
	// message attachments (msgraph-sdk-powershell#1927,
	// msgraph-metadata#321; nothing is reported for events). Clients must
	// still follow a nextLink if one ever comes; this option lets a test
	// check that they do.
	// Source: GRAPH-FACTS.md, Query options (query-6, query-7).
	PageSize int
	// OrderByCountRefused makes $orderby and $count on an attachment list
	// answer 400 BadRequest. Nobody reports what Graph does with them
	// ([unknown]); by default they are silently ignored like $filter, $top
	// and $skip: the list comes in creation order and carries no
	// @odata.count.
	// Source: GRAPH-FACTS.md, Query options (query-10).
	OrderByCountRefused bool
	// ListContentBytesLimit is the largest file (in bytes of content) whose
	// contentBytes a list without $select includes; larger files come
	// without contentBytes (read them with GET .../attachments/{id} or
	// /$value). Users report this from about 3 MB on, for message
	// attachments (wisecom-oy/atlas#24); Microsoft documents nothing. 0
	// means 3,000,000 bytes; a negative value always includes contentBytes.
	// A single GET always includes them.
	// Source: GRAPH-FACTS.md, Reading (read-10, read-11, read-12).
	ListContentBytesLimit int64
	// ReferenceSourceURLAccepted makes POST .../attachments take a
	// #microsoft.graph.referenceAttachment with a sourceUrl (201; reads
	// still show only the v1.0 base properties). The v1.0 schema has no
	// sourceUrl and nobody reports sending one to v1.0 ([unknown]), so by
	// default it is refused as an unknown property: 400 RequestBodyRead.
	// Without sourceUrl the POST answers 400 ErrorInvalidProperty either way
	// (msgraph-sdk-dotnet#634). Tests can seed reference attachments with
	// Event.AddReferenceAttachment.
	// Source: GRAPH-FACTS.md, Reference attachments (ref-2, ref-4, ref-5).
	ReferenceSourceURLAccepted bool
	// OccurrenceWrites is what adding an attachment (POST or
	// createUploadSession) to an occurrence of a recurring series does.
	// Graph documents nothing ([unknown]); the default,
	// OccurrenceBecomesException, leans on Exchange's storage model
	// (MS-OXOCAL: an exception is its own item with its own attachments):
	// the occurrence becomes an exception that starts with no attachments
	// of its own and gets the new one.
	// Source: GRAPH-FACTS.md, Recurring events (recur-1, recur-3, recur-4).
	OccurrenceWrites OccurrenceStyle
	// OccurrenceHidesMasterAttachments makes an occurrence (not yet an
	// exception) list no attachments. Undocumented ([unknown]); by default
	// an occurrence shows its series master's attachments, as it is a view
	// of the master until it is changed (microsoft-graph-docs#1795 saw that
	// for attendees). Exceptions always show only their own.
	// Source: GRAPH-FACTS.md, Recurring events (recur-2, recur-6).
	OccurrenceHidesMasterAttachments bool
	// UploadSessionTTL is how long an upload session lives; 0 means 24h. Not
	// documented ([unknown]).
	// Source: GRAPH-FACTS.md, Upload sessions (up-23).
	UploadSessionTTL time.Duration
	// PascalCaseUploads makes the answers of the upload URL (chunks and GET)
	// use "ExpirationDateTime" and "NextExpectedRanges", both PascalCase, as
	// seen from the China cloud (msgraph-sdk-dotnet#2092). By default they
	// are mixed case as in the docs' own example: "ExpirationDateTime" and
	// "nextExpectedRanges" (concepts/outlook-large-attachments.md).
	PascalCaseUploads bool
	// UploadRanges picks how chunk answers write nextExpectedRanges; the
	// default is RangesStartOnly, ["2097152"], as documented.
	UploadRanges RangesStyle
	// UploadPathVersion is the version segment of upload URLs and of the
	// final chunk's Location: "" means "v2.0" (the docs' examples);
	// "gv1.0" and "gbeta" have been seen in the wild (msgraph-sdk-java#1380,
	// msgraph-sdk-java-core#445).
	UploadPathVersion string
	// CastSelectUnsupported makes $select refuse fileAttachment properties
	// in their cast form (microsoft.graph.fileAttachment/contentId) too.
	// Public code sends that form to Graph's attachment lists; no Microsoft
	// page documents it, so a client needs a fallback. By default the cast
	// form is taken.
	// Source: GRAPH-FACTS.md, Query options (query-2; elie222/inbox-zero#3078).
	CastSelectUnsupported bool
	// UploadStatusUnsupported makes GET on an upload URL answer 405. Whether
	// Outlook answers GET with the session's status is not documented
	// ([unknown]); by default the server answers it like a chunk answer.
	// Source: GRAPH-FACTS.md, Upload sessions (up-21, up-22).
	UploadStatusUnsupported bool
	// UploadAudienceErrorCode is error.code of the 401 a request carrying an
	// Authorization header gets on the upload listener; "" means
	// "InvalidAudienceForResource" (msgraph-sdk-java#409,
	// msgraph-sdk-dotnet#2239). "InvalidAudience" was seen too
	// (msgraph-sdk-java-core#445).
	UploadAudienceErrorCode string
	// MalformedID, when set, says which calendar, event or attachment ids
	// Exchange cannot parse: they answer 400 ErrorInvalidIdMalformed "Id is
	// malformed." (microsoft-graph-docs#2268). Which ids those are is not
	// documented (real ids are long base64 strings), so nil, the default,
	// takes every id as well formed and answers 404 for unknown ones.
	MalformedID func(id string) bool
	// MinUploadSize is the smallest size createUploadSession accepts; smaller
	// ones answer ErrorAttachmentSizeShouldNotBeLessThanMinimumSize. 0 means
	// 3,000,000 bytes (the docs' "3 MB", concepts/outlook-large-attachments.md,
	// attachment-createuploadsession.md: "between 3 MB and 150 MB"); a user
	// measured 2 MiB, 2,097,152 bytes (msgraph-sdk-java PR#52, [user]): set
	// 2<<20 to model that. A negative value means no minimum.
	// Source: GRAPH-FACTS.md, Upload sessions (up-2, up-16; attachment-createuploadsession.md [doc]; msgraph-sdk-java PR#52 [user]).
	MinUploadSize int64
	// MinUploadSizeStatus is the status of that error, which nobody
	// documents; 0 means 400.
	MinUploadSizeStatus int
	// UploadByteLimit is the per-mailbox budget of request body bytes
	// (PUT, POST and PATCH, on both listeners) per UploadByteWindow; a request
	// that would go over it answers 429 ApplicationThrottled "Application is
	// over its IncomingBytes limit." with Retry-After ThrottleRetryAfter.
	// 0 means 150 MB (150 MiB, includes/throttling-outlook.md); a negative
	// value turns the budget off.
	UploadByteLimit int64
	// UploadByteWindow is the budget's sliding window; 0 means 5 minutes
	// (includes/throttling-outlook.md).
	UploadByteWindow time.Duration
	// MaxChunkSize is the largest chunk one PUT to an upload URL may carry;
	// 0 means MaxChunkSize (4 MiB: "up to 4 MB each time",
	// attachment-createuploadsession.md), a negative value means no limit.
	// What Outlook answers over 4 MB is not documented nor reported
	// ([unknown]); Microsoft's .NET and Java SDKs default to
	// 5 MiB slices, which suggests it may accept them: set -1 to model
	// that. Chunks need not be multiples of 320 KiB, a OneDrive/SharePoint
	// rule only.
	// Source: GRAPH-FACTS.md, Chunk sizes (chunk-1, chunk-4, chunk-5, chunk-6; attachment-createuploadsession.md [doc]; msgraph-sdk-dotnet-core LargeFileUploadTask.cs [code]).
	MaxChunkSize int64
	// ChunkTooLarge picks the answer to a chunk over MaxChunkSize; the
	// default, TooLargeBadRequest, is assumed to be the Graph host's answer
	// to a body over 4 MiB: 400 BadRequest "Maximum request length
	// exceeded.". The other styles answer as for Options.RequestTooLarge.
	// Source: GRAPH-FACTS.md, Chunk sizes (chunk-4; attachment-createuploadsession.md [doc]; no public report of the answer [unknown]).
	ChunkTooLarge TooLargeStyle
	// FreshSessionNotFound makes the first chunk PUT to each of the first
	// FreshSessionNotFound upload sessions answer 404 ErrorItemNotFound "The
	// specified object was not found in the store." without storing the
	// chunk, as a user saw right after creating a session (Exchange had not
	// propagated it; making a new session and starting over worked,
	// Microsoft-Graph-SMTP-Relay PR#47, [user]). 0, the default, turns it
	// off; a negative value affects every session.
	// Source: GRAPH-FACTS.md, Upload sessions (up-20; ggpwnkthx/Microsoft-Graph-SMTP-Relay PR#47 [user]).
	FreshSessionNotFound int
	// FreshSessionNotFoundPUTs is how many PUTs of an affected session
	// answer that 404: 0 means 1, so a retry of the same chunk gets through;
	// a negative value means every PUT, so only a new session helps. Which
	// one Outlook does is not reported.
	FreshSessionNotFoundPUTs int
	// UnknownUser picks the answer to a /users/{id}/... route whose user
	// does not exist; the default, UnknownUserInvalidUser, is 404
	// ErrorInvalidUser, the answer users report on calendar routes.
	// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-4, mbx-5, mbx-9; microsoft-graph-docs#7909, msgraph-sdk-java#260 [user]).
	UnknownUser UnknownUserStyle
	// NoMailboxMessage is error.message of the 404
	// MailboxNotEnabledForRESTAPI that routes of a user without a mailbox
	// (Server.UserWithoutMailbox) answer; "" means "The mailbox is either
	// inactive, soft-deleted, or is hosted on-premise." (unlicensed users,
	// MicrosoftDocs/azure-docs#85666). Microsoft's KB 4462988 documents
	// "REST API is not yet supported for this mailbox.", which guests and
	// on-premises mailboxes were seen to get. Clients must go by the code.
	// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-1, mbx-2, mbx-3; KB 4462988 [doc]; MicrosoftDocs/azure-docs#85666, microsoft-graph-docs#8520 [user]).
	NoMailboxMessage string
	// UndocumentedSessionRoutes picks the answer to createUploadSession on
	// the routes the docs do not list it for: /calendar/events/{id},
	// /calendars/{id}/events/{id}, /calendarGroups/... and groups. What
	// Graph answers there is not reported ([unknown]); the default,
	// SessionRoutesBadRequest, is assumed.
	// Source: GRAPH-FACTS.md, Routes (route-6, route-7, route-8; attachment-createuploadsession.md [doc]; elsewhere [unknown]).
	UndocumentedSessionRoutes SessionRoutesStyle
	// MaxMessageSize is the mailbox's maximum message size: an upload whose
	// bytes received would pass it fails mid-upload, on the chunk that
	// crosses it, with ErrorMessageSizeExceeded "The message exceeds the
	// maximum supported size." (microsoft-graph-docs-contrib#2561). 0 means
	// unlimited. Exchange Online's default is 35 MB and admins change it
	// (attachment-createuploadsession.md), so the default leaves it off.
	MaxMessageSize int64
	// MessageSizeExceededStatus is the status of that error, which the
	// report does not give; 0 means 400, the status Exchange's OData layer
	// maps ErrorMessageSizeExceeded to. Set 413 to try the other reading.
	MessageSizeExceededStatus int
	// MaxRequestLength is the largest request body the Graph listener takes;
	// 0 means 4 MiB (microsoft-graph-docs#85: "a 4MB limit on the size of a
	// request"), a negative value means 16 MiB.
	MaxRequestLength int64
	// RequestTooLarge picks the answer to a body over MaxRequestLength; the
	// default is TooLargeBadRequest, 400 BadRequest "Maximum request length
	// exceeded." (microsoft-graph-docs#85, #2212).
	RequestTooLarge TooLargeStyle
	// MaxBodyRecorded is how many bytes of each request body are kept in
	// Requests(); 0 means 64 KiB, a negative value keeps none.
	MaxBodyRecorded int
	// EmptyUpdateSendsUpdate makes a PATCH of an organizer's event whose
	// body is the empty object {} count as an update: the attendees' copies
	// get the organizer's attachments (event.go). event-update.md documents
	// PATCH with the properties to change and nothing about a PATCH that
	// changes none ([unknown]); by default {} answers 200 and sends nothing.
	// Source: GRAPH-FACTS.md, Updating the event (upd-3).
	EmptyUpdateSendsUpdate bool
	// AttendeeUpdateStatus is the status of a PATCH on an attendee's copy
	// of a meeting. Graph does not document it; 0 means 200: the change
	// stays on that copy and reaches neither the organizer nor the other
	// attendees. Any other status answers error code ErrorAccessDenied.
	AttendeeUpdateStatus int
	// RequestLimit is the per-mailbox budget of requests (any method, on
	// both listeners) per RequestWindow (sliding); a request over it answers
	// 429 ApplicationThrottled "Application is over its MailboxRequests
	// limit." with a Retry-After. 0 means 10,000 (includes/throttling-outlook.md:
	// 10,000 requests per 10 minutes per app and mailbox), a negative value
	// turns the budget off. Requests turned away with a 429 are not counted
	// (whether Outlook counts them is not documented). The message is not
	// documented either (only the other two limits' messages are known);
	// clients must go by the code.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-1, err-2).
	RequestLimit int
	// RequestWindow is that budget's sliding window; 0 means 10 minutes.
	RequestWindow time.Duration
	// Latency, when set, makes every answer take the model's time (see
	// Latency); nil answers at once.
	Latency *Latency
	// TimeScale makes the server's time run TimeScale times faster than the
	// wall clock, so that Outlook's 5- and 10-minute windows pass in seconds:
	// with 60, a minute of the budgets' windows, of upload session lifetimes
	// and of the Latency model takes one second, and the Retry-After of the
	// server's own 429s is given in wall-clock seconds (60 s of model time
	// is sent as "1"). 0 or 1 means real time. A Clock, when set, is used as
	// the server's time as it is; FaultLatency and FaultSlowBody durations
	// are wall-clock time either way.
	TimeScale float64
	// Clock is the server's time source for upload session expiry and the
	// budgets' windows; nil means time.Now (sped up by TimeScale). Tests can
	// step it instead of sleeping.
	Clock func() time.Time
	// Addr and UploadAddr are the host:port the Graph and upload listeners
	// listen on; "" means a random loopback port ("127.0.0.1:0", else
	// "[::1]:0"). They must differ, as the two listeners stand for two
	// hosts. An unspecified IP (":8080", "0.0.0.0:8080") listens on every
	// interface, but URL, UploadURLBase and the upload URLs then name the
	// loopback address. NewServer panics if it cannot listen there.
	Addr, UploadAddr string
}

// RangesStyle is how an upload chunk answer writes nextExpectedRanges.
type RangesStyle int

const (
	// RangesStartOnly writes one start offset without a dash: ["2097152"]
	// (resources/uploadsession.md, concepts/outlook-large-attachments.md).
	RangesStartOnly RangesStyle = iota
	// RangesOpenEnded writes OneDrive's shape: ["2097152-"].
	RangesOpenEnded
	// RangesSeveral splits what is missing in two closed-then-open ranges,
	// ["2097152-2621439","2621440-"], as resources/uploadsession.md allows.
	// The server still takes bytes only in order, from the first range.
	RangesSeveral
)

// UnknownUserStyle is how a /users/{id}/... route answers when no user
// has that id or userPrincipalName.
type UnknownUserStyle int

const (
	// UnknownUserInvalidUser answers 404 ErrorInvalidUser "The requested
	// user '{id}' is invalid.", the id echoed as Outlook does: a UPN as
	// sent, any other id as {id}@{tenantId}.
	// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-4; microsoft-graph-docs#7909, #4097; microsoft-graph-explorer-v4#4038 [user]).
	UnknownUserInvalidUser UnknownUserStyle = iota
	// UnknownUserResourceNotFound answers 404 ResourceNotFound "Resource
	// could not be discovered." (msgraph-sdk-java#260, microsoft-graph-docs#2085).
	UnknownUserResourceNotFound
	// UnknownUserItemNotFound answers 404 ErrorItemNotFound "The specified
	// object was not found in the store.", as for an unknown event.
	UnknownUserItemNotFound
)

// SessionRoutesStyle is how createUploadSession answers on event routes the
// docs do not list it for (Options.UndocumentedSessionRoutes).
type SessionRoutesStyle int

const (
	// SessionRoutesBadRequest answers 400 BadRequest "Resource not found for
	// the segment 'createUploadSession'.", Graph's answer to a segment it
	// does not route (assumed).
	SessionRoutesBadRequest SessionRoutesStyle = iota
	// SessionRoutesNotFound answers 404 ErrorItemNotFound "The specified
	// object was not found in the store." (assumed).
	SessionRoutesNotFound
	// SessionRoutesAccepted takes sessions on every user event route, as
	// /events/{id} does: event ids are unique per mailbox and Graph's
	// metadata (and Microsoft's generated SDKs) declare createUploadSession
	// there (an inference). Group events still answer 400, since they take
	// no attachments (microsoft-graph-docs#5513).
	// Source: GRAPH-FACTS.md, Routes (route-4, route-7, route-8).
	SessionRoutesAccepted
)

// OccurrenceStyle is what adding an attachment to an occurrence of a
// recurring series does (Options.OccurrenceWrites).
type OccurrenceStyle int

const (
	// OccurrenceBecomesException turns the occurrence into an exception
	// with its own attachments: the new one only (MS-OXOCAL 2.2.1.44.2,
	// 3.1.4.6.2).
	// Source: GRAPH-FACTS.md, Recurring events (recur-1, recur-4).
	OccurrenceBecomesException OccurrenceStyle = iota
	// OccurrenceRefused answers 400 ErrorInvalidRequest and changes
	// nothing; the code is a stand-in, as no answer is reported.
	OccurrenceRefused
)

// TooLargeStyle is how the Graph listener answers a request body over
// Options.MaxRequestLength.
type TooLargeStyle int

const (
	// TooLargeBadRequest answers 400 BadRequest "Maximum request length
	// exceeded." (microsoft-graph-docs#85, #2212).
	TooLargeBadRequest TooLargeStyle = iota
	// TooLargeEntityTooLarge answers 413 ErrorRequestEntityTooLarge
	// (msgraph-sdk-php#1047, msgraph-sdk-java PR#52).
	TooLargeEntityTooLarge
	// TooLargeEmpty500 answers 500 with an empty body
	// (msgraph-sdk-javascript#260).
	TooLargeEmpty500
)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MailboxConcurrency == 0 {
		r.MailboxConcurrency = 4
	}
	if r.ThrottleRetryAfter == "" {
		r.ThrottleRetryAfter = "1"
	}
	if r.PageSize < 0 {
		r.PageSize = 0
	}
	if r.ListContentBytesLimit == 0 {
		r.ListContentBytesLimit = 3_000_000
	}
	if r.UploadSessionTTL <= 0 {
		r.UploadSessionTTL = 24 * time.Hour
	}
	if r.UploadPathVersion == "" {
		r.UploadPathVersion = "v2.0"
	}
	if r.UploadAudienceErrorCode == "" {
		r.UploadAudienceErrorCode = "InvalidAudienceForResource"
	}
	if r.MinUploadSize == 0 {
		r.MinUploadSize = 3_000_000
	}
	if r.MinUploadSizeStatus == 0 {
		r.MinUploadSizeStatus = 400
	}
	if r.MaxChunkSize == 0 {
		r.MaxChunkSize = MaxChunkSize
	}
	if r.FreshSessionNotFoundPUTs == 0 {
		r.FreshSessionNotFoundPUTs = 1
	}
	if r.NoMailboxMessage == "" {
		r.NoMailboxMessage = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
	}
	if r.UploadByteLimit == 0 {
		r.UploadByteLimit = 150 << 20
	}
	if r.UploadByteWindow <= 0 {
		r.UploadByteWindow = 5 * time.Minute
	}
	if r.MessageSizeExceededStatus == 0 {
		r.MessageSizeExceededStatus = 400
	}
	if r.MaxRequestLength == 0 {
		r.MaxRequestLength = 4 << 20
	} else if r.MaxRequestLength < 0 {
		r.MaxRequestLength = maxJSONBody
	}
	if r.MaxBodyRecorded == 0 {
		r.MaxBodyRecorded = 64 << 10
	}
	if r.RequestLimit == 0 {
		r.RequestLimit = 10_000
	}
	if r.RequestWindow <= 0 {
		r.RequestWindow = 10 * time.Minute
	}
	if r.TimeScale <= 0 {
		r.TimeScale = 1
	}
	if r.Clock == nil {
		r.Clock = time.Now
		if r.TimeScale != 1 {
			r.Clock = scaledClock(time.Now(), r.TimeScale)
		}
	}
	return r
}

// Server is a running Graph emulator. Create it with NewServer and stop it
// with Close. All methods are safe for concurrent use.
type Server struct {
	opts Options
	cred *Credential

	graph  *listener
	upload *listener

	// mu guards the store: mailboxes, calendars, events, attachments,
	// upload sessions and the per-mailbox in-flight counters.
	mu       sync.Mutex
	me       *Mailbox
	users    []*Mailbox // in creation order; few enough to scan
	groups   map[string]*Mailbox
	sessions map[string]*uploadSession
	created  int // upload sessions created so far (Options.FreshSessionNotFound)
	inflight map[*Mailbox]int
	incoming map[*Mailbox][]received  // the upload byte budget's window
	requests map[*Mailbox][]time.Time // the request budget's window
	tenant   string

	raFixed bool       // Options.ThrottleRetryAfter was given: send it for every 429
	lat     latencyGen // draws the Latency model's delays

	rec    recorder
	faults faultTable
}

// listener is one of the two loopback HTTP servers.
type listener struct {
	srv  *http.Server
	ln   net.Listener
	host string // host:port
}

func (l *listener) base() string { return "http://" + l.host }

// NewServer starts a Server on two random loopback ports at once (or on
// Options.Addr and UploadAddr). A nil opts means the defaults. It panics if
// it cannot listen, like httptest.NewServer.
func NewServer(opts *Options) *Server {
	s := &Server{
		opts:     opts.withDefaults(),
		cred:     newCredential(),
		groups:   map[string]*Mailbox{},
		sessions: map[string]*uploadSession{},
		inflight: map[*Mailbox]int{},
		incoming: map[*Mailbox][]received{},
		requests: map[*Mailbox][]time.Time{},
		tenant:   uuid.NewString(),
		raFixed:  opts != nil && opts.ThrottleRetryAfter != "",
	}
	s.lat.init(s.opts.Latency)
	s.faults.counts = map[FaultKind]int{}
	s.me = newMailbox(s, "me-0000", "me@contoso.com", false)
	s.users = append(s.users, s.me)
	var err error
	if s.graph, err = listen(s.opts.Addr, s.serve(false, s.handleGraph)); err != nil {
		panic(fmt.Sprintf("graphtest: failed to listen on a port: %v", err))
	}
	if s.upload, err = listen(s.opts.UploadAddr, s.serve(true, s.handleUpload)); err != nil {
		s.graph.ln.Close()
		panic(fmt.Sprintf("graphtest: failed to listen on a port: %v", err))
	}
	// Serve only once both are known: with a fixed Addr a request may come
	// at once.
	go s.graph.srv.Serve(s.graph.ln)   //nolint:errcheck // Serve always returns an error once closed
	go s.upload.srv.Serve(s.upload.ln) //nolint:errcheck
	return s
}

// listen listens on addr ("" means a random loopback port) for h.
func listen(addr string, h http.Handler) (*listener, error) {
	var ln net.Listener
	var err error
	if addr == "" {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			ln, err = net.Listen("tcp6", "[::1]:0")
		}
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	host := ln.Addr().String()
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		// Listening on every interface: name the loopback address, of
		// the family asked for ("" and 0.0.0.0 are IPv4's).
		lo := "127.0.0.1"
		if h, _, _ := net.SplitHostPort(addr); strings.Contains(h, ":") {
			lo = "::1"
		}
		host = net.JoinHostPort(lo, strconv.Itoa(a.Port))
	}
	return &listener{srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}, ln: ln, host: host}, nil
}

// URL is the Graph version root, e.g. "http://127.0.0.1:PORT/v1.0"; pass it
// as the client's base URL.
func (s *Server) URL() string { return s.graph.base() + "/v1.0" }

// UploadURLBase is the root ("http://127.0.0.1:PORT") of the second
// listener, which serves upload sessions. Its host:port differs from URL's,
// as outlook.office.com differs from graph.microsoft.com.
func (s *Server) UploadURLBase() string { return s.upload.base() }

// TenantID is the tenant id the server's upload URLs name, as in
// Users('{userId}@{tenantId}') (concepts/outlook-large-attachments.md).
func (s *Server) TenantID() string { return s.tenant }

// Credential is the token credential whose tokens this server accepts.
func (s *Server) Credential() *Credential { return s.cred }

// ExpireTokens makes every token issued so far invalid: requests carrying one
// get 401 InvalidAuthenticationToken with a CAE claims challenge, so a client
// must fetch a new token (GetToken still works).
func (s *Server) ExpireTokens() { s.cred.revokeAll() }

// Close stops both listeners and drops their open connections. Stored state
// stays inspectable afterwards.
func (s *Server) Close() {
	s.graph.srv.Close()
	s.upload.srv.Close()
}

// call is one request in progress, with what every answer needs.
type call struct {
	s               *Server
	w               http.ResponseWriter
	r               *http.Request
	requestID       string
	clientRequestID string
	// upload is set on the upload listener, whose errors have the upload
	// host's shape (errorShapeFor).
	upload bool

	// latency is set by FaultLatency, plus the Latency model's time per
	// request (scaled to the wall clock); wait applies it once, inside the
	// mailbox's in-flight window, so latency can trigger throttling.
	latency time.Duration
	waited  bool
	// bodyLatency is the Latency model's time for the request body (wall
	// clock), applied once the budgets have taken the body.
	bodyLatency time.Duration
	// partial is set by FaultPartialChunk: a chunk keeps only keep bytes
	// (half when 0).
	partial bool
	keep    int64
	// slot is the mailbox whose in-flight slot the call holds (admit), nil
	// once released: when the answer starts, or when the handler returns.
	slot *Mailbox
}

// releaseSlot gives back the call's in-flight slot, once. It runs before
// the answer's first byte is written: a client that has read an answer
// may send its next request at once without being over the limit.
func (c *call) releaseSlot() {
	if c.slot != nil {
		c.s.release(c.slot)
		c.slot = nil
	}
}

// wait sleeps the injected latency once, honouring the request context. It
// reports false if the client went away meanwhile.
func (c *call) wait() bool {
	if c.waited || c.latency <= 0 {
		c.waited = true
		return c.r.Context().Err() == nil
	}
	c.waited = true
	return sleepCtx(c.r.Context(), c.latency)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve wraps a listener's handler with what every request gets, on both
// listeners: ids, recording, and fault injection. upload tells which
// listener it serves.
func (s *Server) serve(upload bool, h func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := s.graph.host
		if upload {
			host = s.upload.host
		}
		body := newCaptureBody(r.Body, s.opts.MaxBodyRecorded)
		r.Body = body
		rec := s.rec.start(r, host)

		c := &call{
			s:               s,
			r:               r,
			requestID:       uuid.NewString(),
			clientRequestID: r.Header.Get("client-request-id"),
			upload:          upload,
		}
		sw := &statusWriter{ResponseWriter: w, onAnswer: c.releaseSlot}
		c.w = sw
		sw.Header().Set("request-id", c.requestID)
		if c.clientRequestID != "" {
			sw.Header().Set("client-request-id", c.clientRequestID)
		}

		c.latency, c.bodyLatency = s.lat.draw(upload, r.ContentLength, s.opts.TimeScale)
		f, ok := s.faults.pick(r.Method, r.URL.EscapedPath())
		hijacked := false
		if ok {
			hijacked = s.applyFault(c, sw, f, h)
		} else {
			h(c)
		}
		if !hijacked {
			body.drain()
		}
		status := sw.status
		if hijacked && !sw.answered {
			status = 0
		}
		s.rec.finish(rec, body, status)
	})
}

// acquire takes one of the mailbox's in-flight slots, or reports false when
// the mailbox is over its concurrency limit.
func (s *Server) acquire(m *Mailbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MailboxConcurrency > 0 && s.inflight[m] >= s.opts.MailboxConcurrency {
		return false
	}
	s.inflight[m]++
	return true
}

func (s *Server) release(m *Mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[m]--; s.inflight[m] <= 0 {
		delete(s.inflight, m)
	}
}

// throttle answers 429 the way Outlook does when a mailbox is busy.
func (c *call) throttle() {
	c.failRetry(http.StatusTooManyRequests, "ApplicationThrottled",
		"Application is over its MailboxConcurrency limit.", c.s.retryAfter(0))
}
