package graphtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxAttachmentSize is the file size from which the docs send attachments
// through an upload session rather than one POST .../attachments
// (concepts/outlook-large-attachments.md: "under 3 MB"). The server itself
// limits a POST by its whole body (Options.MaxRequestLength), as Graph does,
// so a file a little over this still fits when its JSON stays under 4 MiB.
const MaxAttachmentSize = 3 << 20

// fileAttachmentSize is the size Graph reports for a file attachment of n
// bytes. Graph's size is not the byte count (it includes what Exchange stores
// with the attachment) and nobody documents the formula; this stand-in is
// n + 158 + n*4.5% (integer), which gives exactly the 178 of the seed's 20
// bytes (event-post-attachments.md), 3,640,229 for the large-attachment doc's
// 3,483,322 bytes (Graph said 3,640,066) and 1,010 for 816 bytes (a user saw
// 1,053, microsoft-graph-docs#9796).
// Source: GRAPH-FACTS.md, Adding attachments (add-6; event-post-attachments.md, microsoft-graph-docs#9796).
func fileAttachmentSize(n int64) int64 { return n + 158 + n*45/1000 }

// itemAttachmentSize is the size reported for an item attachment whose item,
// as compact JSON, has n bytes: n + 2175, which gives exactly the seed's 2473
// (event-post-attachments.md, whose item compacts to 298 bytes). Like
// fileAttachmentSize it is a deterministic stand-in for an undocumented rule.
func itemAttachmentSize(n int64) int64 { return n + 2175 }

// referenceAttachmentSize is the size reported for a reference attachment:
// v1.0 documents it as "the size of the metadata", not the file's
// (resources/referenceattachment.md). n + 352, with n the sourceUrl's
// length, gives the 424 a user saw (microsoft-graph-docs#6234); a stand-in
// like fileAttachmentSize.
func referenceAttachmentSize(n int64) int64 { return n + 352 }

const (
	fileType = "#microsoft.graph.fileAttachment"
	itemType = "#microsoft.graph.itemAttachment"
	refType  = "#microsoft.graph.referenceAttachment"
)

// newAttachmentID makes an Outlook-looking id: "AAMkA" + padded base64url of
// 16 random bytes, so ids contain '=', '-' and '_' and clients must escape
// them.
func newAttachmentID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "AAMkA" + base64.URLEncoding.EncodeToString(b)
}

// contextEscape escapes an id inside @odata.context, as Graph does ('=' is
// %3D there).
func contextEscape(id string) string {
	return strings.ReplaceAll(url.QueryEscape(strings.ReplaceAll(id, "'", "''")), "+", "%20")
}

// graphTime is Graph's lastModifiedDateTime format: UTC, whole seconds.
func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// contentTypeFor is the content type Graph reports for a file sent without
// one: guessed from the name's extension.
func contentTypeFor(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		mt, _, err := mime.ParseMediaType(t)
		if err == nil {
			return mt
		}
	}
	return "application/octet-stream"
}

// createAttachment is POST .../attachments.
func (s *Server) createAttachment(c *call, mb *Mailbox, ev *event) {
	o, bad := s.readJSONObject(c.r)
	if bad == nil {
		var a *attachment
		if a, bad = s.parseAttachment(o); bad == nil {
			// Source: GRAPH-FACTS.md, Recurring events (recur-1; [unknown]:
			// Options.OccurrenceWrites).
			if s.refuseOccurrenceWrite(c, ev) {
				return
			}
			a.ID = newAttachmentID()
			a.LastModifiedDateTime = now()
			s.mu.Lock()
			addAttachmentLocked(ev, a)
			s.mu.Unlock()
			c.w.Header().Set("Location", s.URL()+"/"+quoteKey(ownerName(mb), mb.id)+"/"+quoteKey("events", ev.id)+"/"+quoteKey("attachments", a.ID))
			c.writeJSON(http.StatusCreated, s.attachmentJSON(mb, ev, a, nil, asCreated))
			return
		}
	}
	c.failBody(bad)
}

// parseAttachment validates a create body strictly, like Graph.
func (s *Server) parseAttachment(o jsonObject) (*attachment, *badBody) {
	t, bad := o.odataType()
	if bad != nil {
		return nil, bad
	}
	a := &attachment{}
	switch t {
	case "microsoft.graph.fileAttachment":
		a.ODataType = fileType
		bad = o.onlyKnown("microsoft.graph.fileAttachment", "@odata.type", "name", "contentType", "contentBytes",
			"isInline", "contentId", "contentLocation", "size", "lastModifiedDateTime")
	case "microsoft.graph.itemAttachment":
		a.ODataType = itemType
		bad = o.onlyKnown("microsoft.graph.itemAttachment", "@odata.type", "name", "contentType", "isInline", "size", "item")
	case "microsoft.graph.referenceAttachment":
		a.ODataType = refType
		known := []string{"@odata.type", "name", "contentType", "isInline", "size"}
		if s.opts.ReferenceSourceURLAccepted {
			// The beta properties (resources/referenceattachment.md, beta).
			known = append(known, "sourceUrl", "providerType", "permission", "isFolder", "thumbnailUrl", "previewUrl")
		}
		// Source: GRAPH-FACTS.md, Reference attachments (ref-2, ref-5;
		// referenceattachment.md v1.0 lists only the base properties; sending
		// sourceUrl to v1.0 is [unknown]: Options.ReferenceSourceURLAccepted).
		if bad = o.onlyKnown("microsoft.graph.referenceAttachment", known...); bad == nil && isNull(o["sourceUrl"]) {
			// Source: GRAPH-FACTS.md, Reference attachments (ref-4; msgraph-sdk-dotnet#634).
			bad = bodyErr("ErrorInvalidProperty", "The property 'SourceUrl' is required when creating the entity.")
		}
	case "", "microsoft.graph.attachment":
		// Source: GRAPH-FACTS.md, Adding attachments (add-7;
		// msgraph-sdk-android#72, msgraph-typescript-typings#104).
		return nil, &badBody{status: http.StatusUnprocessableEntity, code: "UnprocessableType",
			msg: "Cannot process input of abstract type 'Microsoft.OutlookServices.Attachment'"}
	default:
		return nil, bodyErr("RequestBodyRead", "A type named '%s' could not be resolved by the model. Use '#microsoft.graph.fileAttachment' or '#microsoft.graph.itemAttachment'.", t)
	}
	if bad != nil {
		return nil, bad
	}
	var ok bool
	if a.Name, ok, bad = o.str("name"); bad != nil {
		return nil, bad
	} else if !ok || a.Name == "" {
		return nil, bodyErr("ErrorInvalidRequest", "The attachment's name is required.")
	}
	if a.ContentType, _, bad = o.str("contentType"); bad != nil {
		return nil, bad
	}
	if a.IsInline, bad = o.boolean("isInline"); bad != nil {
		return nil, bad
	}
	// size is read-only: Graph ignores a sent value, but it must be a number.
	if _, _, bad = o.integer("size"); bad != nil {
		return nil, bad
	}
	switch a.ODataType {
	case fileType:
		return a, parseFile(o, a)
	case refType:
		src, _, bad := o.str("sourceUrl")
		a.Size = referenceAttachmentSize(int64(len(src)))
		return a, bad
	}
	return a, parseItem(o, a)
}

func parseFile(o jsonObject, a *attachment) *badBody {
	var bad *badBody
	if a.ContentID, _, bad = o.str("contentId"); bad != nil {
		return bad
	}
	// A sent contentLocation is taken and dropped: reads answer null
	// (attachmentJSON).
	if _, _, bad = o.str("contentLocation"); bad != nil {
		return bad
	}
	if _, _, bad = o.str("lastModifiedDateTime"); bad != nil {
		return bad
	}
	b64, ok, bad := o.str("contentBytes")
	if bad != nil {
		return bad
	}
	if !ok {
		// No contentBytes on a fileAttachment: 400 ErrorRequiredPropertyMissing.
		// Source: GRAPH-FACTS.md, Adding attachments (add-8; msgraph-sdk-python#667).
		return bodyErr("ErrorRequiredPropertyMissing", "Required property is missing.")
	}
	content, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err == nil && strings.ContainsAny(b64, "\r\n") {
		// Go's decoder skips line breaks even in strict mode; a client
		// encoding in one piece never sends them.
		err = errors.New("line breaks in base64")
	}
	if err != nil {
		// contentBytes is Edm.Binary: bad base64 fails deserialisation (users
		// report this very case, third-party notes only).
		// Source: GRAPH-FACTS.md, Adding attachments (add-8).
		return bodyErr("UnableToDeserializePostBody", "were unable to deserialize ")
	}
	if a.ContentType == "" {
		a.ContentType = contentTypeFor(a.Name)
	}
	a.Content = content
	a.Size = fileAttachmentSize(int64(len(content)))
	return nil
}

func parseItem(o jsonObject, a *attachment) *badBody {
	item, raw, bad := o.object("item")
	if bad != nil {
		return bad
	}
	if item == nil {
		return bodyErr("ErrorInvalidRequest", "An item attachment needs an item.")
	}
	t, bad := item.odataType()
	if bad != nil {
		return bad
	}
	switch t {
	case "microsoft.graph.event", "microsoft.graph.message", "microsoft.graph.contact":
	default:
		return bodyErr("ErrorInvalidRequest", "The item's @odata.type must be microsoft.graph.event, microsoft.graph.message or microsoft.graph.contact, got '%s'.", t)
	}
	a.ContentType = "" // Graph answers null for items (event-post-attachments.md)
	a.Item = slices.Clone(raw)
	var compact bytes.Buffer
	json.Compact(&compact, raw) // raw parsed already: cannot fail
	a.Size = itemAttachmentSize(int64(compact.Len()))
	return nil
}

// rendering is where an attachment is rendered.
type rendering int

const (
	inList    rendering = iota // an item of a list's value
	asEntity                   // a single GET
	asCreated                  // a POST's 201
)

// attachmentJSON renders an attachment as Graph does. sel, when non-nil,
// limits the properties (@odata.type, @odata.mediaContentType and id always
// stay); a single entity (GET or POST) has the @odata.context (and
// @odata.id for items) of a single-entity answer.
func (s *Server) attachmentJSON(mb *Mailbox, ev *event, a *attachment, sel map[string]bool, how rendering) obj {
	entity := how != inList
	var o obj
	base := s.URL() + "/" + ownerSegment(mb) + "/events('" + contextEscape(ev.id) + "')/attachments"
	if entity {
		o = append(o, kv{"@odata.context", s.URL() + "/$metadata#" + strings.TrimPrefix(base, s.URL()+"/") + "/$entity"})
	}
	o = append(o, kv{"@odata.type", a.ODataType})
	if a.ODataType == fileType && a.ContentType != "" && how != asCreated {
		// Source: GRAPH-FACTS.md, Reading (read-6, read-8; concepts/outlook-large-attachments.md
		// Step 4; alcionai/corso#5419): on every file attachment, in lists
		// and single GETs, whatever $select says; the POST's 201 has none
		// (event-post-attachments.md). No @odata.etag on attachments
		// (absent from every sample).
		o = append(o, kv{"@odata.mediaContentType", a.ContentType})
	}
	if entity && a.ODataType == itemType {
		o = append(o, kv{"@odata.id", base + "('" + contextEscape(a.ID) + "')"})
	}
	o = append(o, kv{"id", a.ID})
	add := func(k string, v any) {
		if sel == nil || sel[k] {
			o = append(o, kv{k, v})
		}
	}
	// Source: GRAPH-FACTS.md, Reading (read-9; attachment-get.md; corso#5419):
	// whole seconds with Z.
	add("lastModifiedDateTime", graphTime(a.LastModifiedDateTime))
	add("name", a.Name)
	add("contentType", nullable(a.ContentType))
	add("size", a.Size)
	add("isInline", a.IsInline)
	if a.ODataType == fileType {
		// Source: GRAPH-FACTS.md, Reading (read-5, read-7; attachment-get.md;
		// microsoft-graph-docs#3278): contentId null unless set,
		// contentLocation always null.
		add("contentId", nullable(a.ContentID))
		add("contentLocation", nil)
		// Encoded only when asked for: a metadata list over 150 MiB files
		// must stay cheap. Source: GRAPH-FACTS.md, Reading
		// (read-11; wisecom-oy/atlas#24 [user]): a list without $select leaves
		// contentBytes out of files over Options.ListContentBytesLimit.
		bigInList := !entity && sel == nil && s.opts.ListContentBytesLimit > 0 &&
			int64(len(a.Content)) > s.opts.ListContentBytesLimit
		if (sel == nil || sel["contentBytes"]) && !bigInList {
			o = append(o, kv{"contentBytes", base64.StdEncoding.EncodeToString(a.Content)})
		}
	}
	// A reference attachment has only the base properties on v1.0.
	// Source: GRAPH-FACTS.md, Reference attachments (ref-2; resources/referenceattachment.md).
	return o
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// baseSelectable are the properties of microsoft.graph.attachment, the
// declared type of the attachments set: $select takes them as they are.
var baseSelectable = []string{"id", "name", "contentType", "size", "isInline", "lastModifiedDateTime"}

// fileSelectable are fileAttachment's own properties: $select takes them only
// in OData's cast form, microsoft.graph.fileAttachment/contentId.
var fileSelectable = []string{"contentBytes", "contentId", "contentLocation"}

// parseQuery checks the OData query options: only those in allowed may
// appear (others are an error in Graph too); plain parameters are ignored.
func parseQuery(c *call, allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid query string: "+err.Error())
		return nil, false
	}
	for k := range q {
		if strings.HasPrefix(k, "$") && !slices.Contains(allowed, k) {
			c.fail(http.StatusBadRequest, "BadRequest", "Query option '"+k+"' is not allowed here.")
			return nil, false
		}
	}
	return q, true
}

// parseSelect reads $select; nil means all properties. A fileAttachment
// property named plainly is refused, as Graph refuses it: 400
// RequestBroker--ParseUri. Its cast form is taken unless
// Options.CastSelectUnsupported.
// Source: GRAPH-FACTS.md, Query options (query-1, query-2; microsoft-graph-explorer-v4#3916).
func (s *Server) parseSelect(c *call, q url.Values) (map[string]bool, bool) {
	if !q.Has("$select") {
		return nil, true
	}
	sel := map[string]bool{}
	for _, p := range strings.Split(q.Get("$select"), ",") {
		p = strings.TrimSpace(p)
		prop, cast := cutFold(p, "microsoft.graph.fileAttachment/")
		switch {
		case !cast && slices.Contains(baseSelectable, p):
		case cast && !s.opts.CastSelectUnsupported && slices.Contains(fileSelectable, prop):
		default:
			c.fail(http.StatusBadRequest, "RequestBroker--ParseUri", "Could not find a property named '"+p+"' on type 'microsoft.graph.attachment'.")
			return nil, false
		}
		sel[prop] = true
	}
	return sel, true
}

// cutFold is strings.CutPrefix with the prefix matched case-insensitively
// (OData type names in a URL are, in Graph).
func cutFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// listAttachments is GET .../attachments: every attachment in one page
// unless Options.PageSize makes it page with $top and $skiptoken.
func (s *Server) listAttachments(c *call, mb *Mailbox, ev *event) {
	q, ok := parseQuery(c, "$select", "$top", "$skip", "$skiptoken", "$filter", "$orderby", "$count")
	if !ok {
		return
	}
	sel, ok := s.parseSelect(c, q)
	if !ok {
		return
	}
	// Source: GRAPH-FACTS.md, Query options (query-5; concepts/known-issues.md,
	// microsoft-graph-docs#1974): $filter is ignored, all items come back.
	// $orderby and $count: query-10 [unknown], Options.OrderByCountRefused.
	if s.opts.OrderByCountRefused {
		for _, k := range []string{"$orderby", "$count"} {
			if q.Has(k) {
				c.fail(http.StatusBadRequest, "BadRequest", "Query option '"+k+"' is not allowed here.")
				return
			}
		}
	}
	paged := s.opts.PageSize > 0
	top := 0
	for _, k := range []string{"$top", "$skip"} {
		// Ignored or not, OData's URI parser still needs a number there
		// (an inference: no report shows a malformed value).
		if q.Has(k) {
			if n, err := strconv.Atoi(q.Get(k)); err != nil || n < 0 {
				c.fail(http.StatusBadRequest, "BadRequest", "Invalid "+k+" value '"+q.Get(k)+"'.")
				return
			}
		}
	}
	skip := 0
	if paged {
		top = s.opts.PageSize
		if q.Has("$top") {
			n, _ := strconv.Atoi(q.Get("$top"))
			if n < 1 || n > 1000 {
				c.fail(http.StatusBadRequest, "BadRequest", "Invalid $top value '"+q.Get("$top")+"': use 1 to 1000.")
				return
			}
			top = n
		}
		if q.Has("$skiptoken") {
			n, err := decodeSkipToken(q.Get("$skiptoken"))
			if err != nil {
				c.fail(http.StatusBadRequest, "BadRequest", "Invalid $skiptoken.")
				return
			}
			skip = n
		}
	}

	s.mu.Lock()
	atts := slices.Clone(s.shownLocked(ev))
	s.mu.Unlock()
	if !paged {
		// Source: GRAPH-FACTS.md, Query options (query-6; msgraph-sdk-powershell#1927,
		// msgraph-metadata#321 [user]): no paging, $top and $skip ignored.
		top = len(atts)
	}
	value := []obj{}
	for i := skip; i < len(atts) && i < skip+top; i++ {
		value = append(value, s.attachmentJSON(mb, ev, atts[i], sel, inList))
	}
	ctx := s.URL() + "/$metadata#" + ownerSegment(mb) + "/events('" + contextEscape(ev.id) + "')/attachments"
	if sel != nil {
		ctx += "(" + q.Get("$select") + ")"
	}
	o := obj{{"@odata.context", ctx}, {"value", value}}
	if paged && skip+top < len(atts) {
		// The next link keeps the request's path as received and its
		// query options, on the host the request came to.
		next := "http://" + c.r.Host + c.r.URL.EscapedPath() + "?"
		if sel != nil {
			next += "$select=" + url.QueryEscape(q.Get("$select")) + "&"
		}
		if q.Has("$top") {
			next += "$top=" + strconv.Itoa(top) + "&"
		}
		next += "$skiptoken=" + encodeSkipToken(skip+top)
		o = append(o, kv{"@odata.nextLink", next})
	}
	c.writeJSON(http.StatusOK, o)
}

// Skip tokens are opaque to clients; they must use @odata.nextLink as is.
func encodeSkipToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("skip=" + strconv.Itoa(n)))
}

func decodeSkipToken(t string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "skip="))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "skip=") {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}

// findAttachment answers 404 when the event has no such attachment.
func (s *Server) findAttachment(c *call, ev *event, id string) *attachment {
	s.mu.Lock()
	var a *attachment
	if i := slices.IndexFunc(s.shownLocked(ev), func(a *attachment) bool { return a.ID == id }); i >= 0 {
		a = s.shownLocked(ev)[i]
	}
	s.mu.Unlock()
	if a == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return a
}

// getAttachment is GET .../attachments/{id}; $expand=item (or
// microsoft.graph.itemAttachment/item) adds an item attachment's item.
func (s *Server) getAttachment(c *call, mb *Mailbox, ev *event, id string) {
	q, ok := parseQuery(c, "$select", "$expand")
	if !ok {
		return
	}
	sel, ok := s.parseSelect(c, q)
	if !ok {
		return
	}
	expand := q.Get("$expand")
	if expand != "" && !strings.EqualFold(expand, "item") && !strings.EqualFold(expand, "microsoft.graph.itemAttachment/item") {
		c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+expand+"' to expand.")
		return
	}
	a := s.findAttachment(c, ev, id)
	if a == nil {
		return
	}
	o := s.attachmentJSON(mb, ev, a, sel, asEntity)
	if expand != "" && a.ODataType == itemType {
		o = append(o, kv{"item", json.RawMessage(a.Item)})
	}
	c.writeJSON(http.StatusOK, o)
}

// getAttachmentValue is GET .../attachments/{id}/$value: a file's raw bytes.
func (s *Server) getAttachmentValue(c *call, ev *event, id string) {
	a := s.findAttachment(c, ev, id)
	if a == nil {
		return
	}
	contentType, body := a.ContentType, a.Content
	if a.ODataType == refType {
		// Source: GRAPH-FACTS.md, Reference attachments (ref-8; attachment-get.md:
		// 405; the message: microsoft-graph-docs#15766). The code is not
		// reported; ErrorInvalidRequest is a stand-in.
		c.fail(http.StatusMethodNotAllowed, "ErrorInvalidRequest",
			"'$value' segment is not supported for the given attachment. '$value' segment is only supported for File Attachments and Item Attachments")
		return
	}
	if a.ODataType != fileType {
		// An item's $value is the item rendered as MIME, iCalendar or vCard
		// (attachment-get.md).
		ct, b, ok := itemValue(a.Item)
		if !ok {
			c.fail(http.StatusMethodNotAllowed, "ErrorInvalidRequest", "$value is not available for this attachment.")
			return
		}
		contentType, body = ct, b
	}
	c.w.Header().Set("Content-Type", contentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(body)
}

// AddReferenceAttachment seeds a reference (link) attachment named name on
// the event and returns its id, as if added through beta or Outlook: v1.0
// creates one only with a sourceUrl, which its schema lacks (see
// Options.ReferenceSourceURLAccepted). Reads show only the base properties;
// its $value answers 405. Like a POST, it goes on an occurrence's own set
// and makes it an exception.
func (e *Event) AddReferenceAttachment(name, sourceURL string) string {
	a := &attachment{StoredAttachment: StoredAttachment{
		ID:                   newAttachmentID(),
		ODataType:            refType,
		Name:                 name,
		Size:                 referenceAttachmentSize(int64(len(sourceURL))),
		LastModifiedDateTime: now(),
	}}
	e.mb.s.mu.Lock()
	defer e.mb.s.mu.Unlock()
	addAttachmentLocked(e.ev, a)
	return a.ID
}

// deleteAttachment is DELETE .../attachments/{id}.
func (s *Server) deleteAttachment(c *call, ev *event, id string) {
	s.mu.Lock()
	i := slices.IndexFunc(ev.atts, func(a *attachment) bool { return a.ID == id })
	if i >= 0 {
		ev.atts = slices.Delete(ev.atts, i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}
