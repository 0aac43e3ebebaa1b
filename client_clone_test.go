package valet

import (
	"reflect"
	"testing"
)

// TestClientCloneSharesNoList fills every list field of Client by reflection,
// so a list field added later without a line in Clone fails here.
func TestClientCloneSharesNoList(t *testing.T) {
	var c Client
	v := reflect.ValueOf(&c).Elem()
	lists := 0
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"original"}))
			lists++
		case reflect.String:
			f.SetString("s")
		}
	}
	if lists == 0 {
		t.Fatal("Client has no list field: the test no longer checks anything")
	}
	cp := c.Clone()
	if !reflect.DeepEqual(*cp, c) {
		t.Fatalf("Clone changed the registration:\n got %+v\nwant %+v", *cp, c)
	}
	cv := reflect.ValueOf(cp).Elem()
	for i := range cv.NumField() {
		if f := cv.Field(i); f.Kind() == reflect.Slice {
			f.Index(0).SetString("changed")
		}
	}
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice && f.Index(0).String() != "original" {
			t.Errorf("Client.%s is shared between a client and its clone", v.Type().Field(i).Name)
		}
	}
}
