package mail

import "time"

// SampleMailbox is the mailbox of the demo's person: six contacts, and a
// few messages that no app asking for contacts.read should ever see.
func SampleMailbox(owner string) *Mailbox {
	day := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	return &Mailbox{
		Owner: owner,
		Contacts: []Contact{
			{Name: "Bruno Costa", Email: "bruno@mail.example"},
			{Name: "Chen Wei", Email: "chen@mail.example"},
			{Name: "Dara Okafor", Email: "dara@mail.example"},
			{Name: "Emil Novak", Email: "emil@mail.example"},
			{Name: "Farah Haddad", Email: "farah@mail.example"},
			{Name: "Grace Lindqvist", Email: "grace@mail.example"},
		},
		Messages: []Message{
			{From: "bank@mail.example", Subject: "Your March statement", Received: day,
				Preview: "Your balance on 13 March was …"},
			{From: "clinic@mail.example", Subject: "Appointment confirmed", Received: day.Add(-26 * time.Hour),
				Preview: "Your appointment with Dr. Silva is on …"},
			{From: "bruno@mail.example", Subject: "Dinner Friday?", Received: day.Add(-50 * time.Hour),
				Preview: "Are you free on Friday? I found a place near …"},
		},
	}
}
