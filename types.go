package eventattach

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// OData type names Graph uses to tell attachment and item kinds apart.
const (
	odataFileAttachment      = "#microsoft.graph.fileAttachment"
	odataItemAttachment      = "#microsoft.graph.itemAttachment"
	odataReferenceAttachment = "#microsoft.graph.referenceAttachment"
	odataEvent               = "#microsoft.graph.event"
	odataMessage             = "#microsoft.graph.message"
	odataContact             = "#microsoft.graph.contact"
)

// Attachment is one of *FileAttachment, *ItemAttachment or
// *ReferenceAttachment. The set is closed: switch on the concrete type.
type Attachment interface {
	// AttachmentName returns the attachment's display name.
	AttachmentName() string
	// AttachmentID returns the id Graph gave the attachment ("" before it is created).
	AttachmentID() string
	isAttachment()
}

// FileAttachment is a file attached to an event (#microsoft.graph.fileAttachment).
type FileAttachment struct {
	ID                   string
	Name                 string
	ContentType          string
	Size                 int64
	IsInline             bool
	LastModifiedDateTime time.Time
	ContentBytes         []byte // raw bytes; base64 on the wire
	ContentID            string
	ContentLocation      string
}

// ItemAttachment is an Outlook item (event, message or contact) attached to
// an event (#microsoft.graph.itemAttachment). Graph's 201 does not echo Item.
type ItemAttachment struct {
	ID                   string
	Name                 string
	ContentType          string
	Size                 int64
	IsInline             bool
	LastModifiedDateTime time.Time
	Item                 OutlookItem // *Event, *Message or *Contact
}

// ReferenceAttachment is a link to a file in OneDrive or SharePoint
// (#microsoft.graph.referenceAttachment). It is decoded from List and Get;
// creating one on events is beta-only in Graph, so this SDK does not send it.
type ReferenceAttachment struct {
	ID                   string
	Name                 string
	ContentType          string
	Size                 int64
	IsInline             bool
	LastModifiedDateTime time.Time
	SourceURL            string
	ProviderType         string
	Permission           string
	IsFolder             bool
}

func (*FileAttachment) isAttachment()      {}
func (*ItemAttachment) isAttachment()      {}
func (*ReferenceAttachment) isAttachment() {}

// AttachmentName returns f.Name.
func (f *FileAttachment) AttachmentName() string { return f.Name }

// AttachmentName returns i.Name.
func (i *ItemAttachment) AttachmentName() string { return i.Name }

// AttachmentName returns r.Name.
func (r *ReferenceAttachment) AttachmentName() string { return r.Name }

// AttachmentID returns f.ID.
func (f *FileAttachment) AttachmentID() string { return f.ID }

// AttachmentID returns i.ID.
func (i *ItemAttachment) AttachmentID() string { return i.ID }

// AttachmentID returns r.ID.
func (r *ReferenceAttachment) AttachmentID() string { return r.ID }

// OutlookItem is one of *Event, *Message or *Contact.
type OutlookItem interface{ isOutlookItem() }

// Event is an Outlook event carried by an ItemAttachment (#microsoft.graph.event).
type Event struct {
	Subject  string
	Body     *ItemBody
	Start    *DateTimeTimeZone
	End      *DateTimeTimeZone
	Location *Location
	IsAllDay bool
}

// Message is an Outlook message carried by an ItemAttachment (#microsoft.graph.message).
type Message struct {
	Subject      string
	Body         *ItemBody
	ToRecipients []Recipient
}

// Contact is an Outlook contact carried by an ItemAttachment (#microsoft.graph.contact).
type Contact struct {
	GivenName      string
	Surname        string
	DisplayName    string
	EmailAddresses []EmailAddress
}

func (*Event) isOutlookItem()   {}
func (*Message) isOutlookItem() {}
func (*Contact) isOutlookItem() {}

// ItemBody is the body of an item. ContentType is "text" or "html" (Graph
// accepts either case).
type ItemBody struct {
	ContentType string `json:"contentType,omitempty"`
	Content     string `json:"content"`
}

// DateTimeTimeZone is Graph's local date-time plus a Windows or IANA zone
// name, e.g. {"2016-12-02T18:00:00", "Pacific Standard Time"}.
type DateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone,omitempty"`
}

// Location is where an event takes place.
type Location struct {
	DisplayName string `json:"displayName,omitempty"`
}

// EmailAddress is a name and an address.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Recipient wraps an EmailAddress, as Graph nests it.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// Wire shapes. Each public type marshals through one of these so that the
// @odata.type is always present and Graph's camelCase names are used.

type fileAttachmentJSON struct {
	ODataType            string    `json:"@odata.type"`
	ID                   string    `json:"id,omitempty"`
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size,omitempty"`
	IsInline             bool      `json:"isInline,omitempty"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime,omitzero"`
	ContentBytes         []byte    `json:"contentBytes,omitempty"`
	ContentID            string    `json:"contentId,omitempty"`
	ContentLocation      string    `json:"contentLocation,omitempty"`
}

type itemAttachmentJSON struct {
	ODataType            string          `json:"@odata.type"`
	ID                   string          `json:"id,omitempty"`
	Name                 string          `json:"name"`
	ContentType          string          `json:"contentType,omitempty"`
	Size                 int64           `json:"size,omitempty"`
	IsInline             bool            `json:"isInline,omitempty"`
	LastModifiedDateTime time.Time       `json:"lastModifiedDateTime,omitzero"`
	Item                 json.RawMessage `json:"item,omitempty"`
}

type referenceAttachmentJSON struct {
	ODataType            string    `json:"@odata.type"`
	ID                   string    `json:"id,omitempty"`
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size,omitempty"`
	IsInline             bool      `json:"isInline,omitempty"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime,omitzero"`
	SourceURL            string    `json:"sourceUrl,omitempty"`
	ProviderType         string    `json:"providerType,omitempty"`
	Permission           string    `json:"permission,omitempty"`
	IsFolder             bool      `json:"isFolder,omitempty"`
}

type eventJSON struct {
	ODataType string            `json:"@odata.type"`
	Subject   string            `json:"subject,omitempty"`
	Body      *ItemBody         `json:"body,omitempty"`
	Start     *DateTimeTimeZone `json:"start,omitempty"`
	End       *DateTimeTimeZone `json:"end,omitempty"`
	Location  *Location         `json:"location,omitempty"`
	IsAllDay  bool              `json:"isAllDay,omitempty"`
}

type messageJSON struct {
	ODataType    string      `json:"@odata.type"`
	Subject      string      `json:"subject,omitempty"`
	Body         *ItemBody   `json:"body,omitempty"`
	ToRecipients []Recipient `json:"toRecipients,omitempty"`
}

type contactJSON struct {
	ODataType      string         `json:"@odata.type"`
	GivenName      string         `json:"givenName,omitempty"`
	Surname        string         `json:"surname,omitempty"`
	DisplayName    string         `json:"displayName,omitempty"`
	EmailAddresses []EmailAddress `json:"emailAddresses,omitempty"`
}

// MarshalJSON writes f with "@odata.type": "#microsoft.graph.fileAttachment".
func (f FileAttachment) MarshalJSON() ([]byte, error) {
	return json.Marshal(fileAttachmentJSON{
		ODataType: odataFileAttachment, ID: f.ID, Name: f.Name, ContentType: f.ContentType, Size: f.Size, IsInline: f.IsInline,
		LastModifiedDateTime: f.LastModifiedDateTime, ContentBytes: f.ContentBytes, ContentID: f.ContentID, ContentLocation: f.ContentLocation,
	})
}

// UnmarshalJSON reads Graph's camelCase fileAttachment, tolerating nulls,
// unknown fields and @odata annotations.
func (f *FileAttachment) UnmarshalJSON(b []byte) error {
	var w fileAttachmentJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = FileAttachment{w.ID, w.Name, w.ContentType, w.Size, w.IsInline, w.LastModifiedDateTime, w.ContentBytes, w.ContentID, w.ContentLocation}
	return nil
}

// MarshalJSON writes i with "@odata.type": "#microsoft.graph.itemAttachment"
// and its item with the item's own @odata.type.
func (i ItemAttachment) MarshalJSON() ([]byte, error) {
	var item json.RawMessage
	if i.Item != nil {
		b, err := marshalItem(i.Item)
		if err != nil {
			return nil, err
		}
		item = b
	}
	return json.Marshal(itemAttachmentJSON{
		ODataType: odataItemAttachment, ID: i.ID, Name: i.Name, ContentType: i.ContentType, Size: i.Size, IsInline: i.IsInline,
		LastModifiedDateTime: i.LastModifiedDateTime, Item: item,
	})
}

// UnmarshalJSON reads Graph's itemAttachment; item is decoded when present
// (Graph sends it only with $expand) and its @odata.type is known.
func (i *ItemAttachment) UnmarshalJSON(b []byte) error {
	var w itemAttachmentJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*i = ItemAttachment{ID: w.ID, Name: w.Name, ContentType: w.ContentType, Size: w.Size, IsInline: w.IsInline, LastModifiedDateTime: w.LastModifiedDateTime}
	if len(w.Item) > 0 && string(w.Item) != "null" {
		item, err := unmarshalItem(w.Item)
		if err != nil {
			return err
		}
		i.Item = item
	}
	return nil
}

// MarshalJSON writes r with "@odata.type": "#microsoft.graph.referenceAttachment".
func (r ReferenceAttachment) MarshalJSON() ([]byte, error) {
	return json.Marshal(referenceAttachmentJSON{
		ODataType: odataReferenceAttachment, ID: r.ID, Name: r.Name, ContentType: r.ContentType, Size: r.Size, IsInline: r.IsInline,
		LastModifiedDateTime: r.LastModifiedDateTime, SourceURL: r.SourceURL, ProviderType: r.ProviderType, Permission: r.Permission, IsFolder: r.IsFolder,
	})
}

// UnmarshalJSON reads Graph's referenceAttachment.
func (r *ReferenceAttachment) UnmarshalJSON(b []byte) error {
	var w referenceAttachmentJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = ReferenceAttachment{w.ID, w.Name, w.ContentType, w.Size, w.IsInline, w.LastModifiedDateTime, w.SourceURL, w.ProviderType, w.Permission, w.IsFolder}
	return nil
}

// MarshalJSON writes e with "@odata.type": "#microsoft.graph.event".
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{ODataType: odataEvent, Subject: e.Subject, Body: e.Body, Start: e.Start, End: e.End, Location: e.Location, IsAllDay: e.IsAllDay})
}

// UnmarshalJSON reads Graph's camelCase event.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w eventJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Event{w.Subject, w.Body, w.Start, w.End, w.Location, w.IsAllDay}
	return nil
}

// MarshalJSON writes m with "@odata.type": "#microsoft.graph.message".
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(messageJSON{ODataType: odataMessage, Subject: m.Subject, Body: m.Body, ToRecipients: m.ToRecipients})
}

// UnmarshalJSON reads Graph's camelCase message.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w messageJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Message{w.Subject, w.Body, w.ToRecipients}
	return nil
}

// MarshalJSON writes c with "@odata.type": "#microsoft.graph.contact".
func (c Contact) MarshalJSON() ([]byte, error) {
	return json.Marshal(contactJSON{ODataType: odataContact, GivenName: c.GivenName, Surname: c.Surname, DisplayName: c.DisplayName, EmailAddresses: c.EmailAddresses})
}

// UnmarshalJSON reads Graph's camelCase contact.
func (c *Contact) UnmarshalJSON(b []byte) error {
	var w contactJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Contact{w.GivenName, w.Surname, w.DisplayName, w.EmailAddresses}
	return nil
}

func marshalItem(item OutlookItem) ([]byte, error) {
	switch v := item.(type) {
	case *Event:
		if v != nil {
			return json.Marshal(*v)
		}
	case *Message:
		if v != nil {
			return json.Marshal(*v)
		}
	case *Contact:
		if v != nil {
			return json.Marshal(*v)
		}
	}
	return nil, invalidInput("item attachment needs a non-nil *Event, *Message or *Contact, got %T", item)
}

// odataTypeOf reads only the @odata.type of a JSON object.
func odataTypeOf(b []byte) (string, error) {
	var probe struct {
		ODataType string `json:"@odata.type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", err
	}
	return normalizeODataType(probe.ODataType), nil
}

// normalizeODataType accepts Graph's two spellings ("#microsoft.graph.x" and
// "microsoft.graph.x", the seed page uses both) and compares case-insensitively.
func normalizeODataType(t string) string {
	if t == "" {
		return ""
	}
	if !strings.HasPrefix(t, "#") {
		t = "#" + t
	}
	return strings.ToLower(t)
}

func unmarshalItem(b []byte) (OutlookItem, error) {
	t, err := odataTypeOf(b)
	if err != nil {
		return nil, err
	}
	switch t {
	case strings.ToLower(odataEvent):
		var e Event
		return &e, json.Unmarshal(b, &e)
	case strings.ToLower(odataMessage):
		var m Message
		return &m, json.Unmarshal(b, &m)
	case strings.ToLower(odataContact):
		var c Contact
		return &c, json.Unmarshal(b, &c)
	}
	return nil, nil // an item kind this SDK does not model: keep the attachment, drop the item
}

// unmarshalAttachment decodes any attachment by its @odata.type.
func unmarshalAttachment(b []byte) (Attachment, error) {
	t, err := odataTypeOf(b)
	if err != nil {
		return nil, err
	}
	switch t {
	case strings.ToLower(odataFileAttachment):
		var f FileAttachment
		return &f, json.Unmarshal(b, &f)
	case strings.ToLower(odataItemAttachment):
		var i ItemAttachment
		return &i, json.Unmarshal(b, &i)
	case strings.ToLower(odataReferenceAttachment):
		var r ReferenceAttachment
		return &r, json.Unmarshal(b, &r)
	}
	return nil, fmt.Errorf("eventattach: unknown attachment @odata.type %q", t)
}
