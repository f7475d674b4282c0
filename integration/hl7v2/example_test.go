package hl7v2_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/concord-health/concord/integration/hl7v2"
)

func Example() {
	data := []byte("MSH|^~\\&|LAB|RIV|EPR|ROYAL|20240102030405||ORU^R01^ORU_R01|MSG1|P|2.5.1\r" +
		"PID|1||123^^^RIV^MR~9434765919^^^NHS^NH||SMITH^JOHN\r" +
		"OBX|1|NM|718-7^Haemoglobin^LN||135|g/L\r" +
		"OBX|2|TX|COMMENT||Haemolysed \\T\\ repeated\r")
	m, err := hl7v2.Parse(data)
	if err != nil {
		panic(err)
	}
	code, event, _ := m.Type()
	fmt.Println(code, event, m.ControlID(), m.Version())
	fmt.Println(m.Get("PID-3[2].1"), m.Get("PID-3[2].4"), m.Get("PID-5.2"))
	for _, obx := range m.SegmentsNamed("OBX") {
		fmt.Println(obx.Get("3.2"), "=", obx.Get("5"))
	}
	fmt.Println(string(m.Encode()) == string(data))
	// Output:
	// ORU R01 MSG1 2.5.1
	// 9434765919 NHS JOHN
	// Haemoglobin = 135
	//  = Haemolysed & repeated
	// true
}

func ExampleNewACK() {
	m, _ := hl7v2.Parse([]byte("MSH|^~\\&|PAS|RIV|EPR|ROYAL|20240102030405||ADT^A01^ADT_A01|MSG7|P|2.5.1|||AL|NE\rPID|1\r"))
	accept, application := m.AcksWanted(true)
	fmt.Println("enhanced:", m.EnhancedMode(), "accept ack:", accept, "application ack:", application)

	missing := &hl7v2.ParseError{Segment: "PID", SegmentIndex: 2, Field: 3, Code: hl7v2.CodeRequiredFieldMissing, Msg: "no patient identifier"}
	ack := hl7v2.NewACK(m, hl7v2.CommitError, hl7v2.WithError(missing),
		hl7v2.WithControlID("ACK7"), hl7v2.WithTime(time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)))
	fmt.Println(strings.ReplaceAll(ack.String(), "\r", "\n"))
	// Output:
	// enhanced: true accept ack: true application ack: false
	// MSH|^~\&|EPR|ROYAL|PAS|RIV|20240102030406+0000||ACK^A01^ACK|ACK7|P|2.5.1
	// MSA|CE|MSG7
	// ERR||PID^2^3|101^Required field missing^HL70357|E||||no patient identifier
}

func ExampleMessage_Set() {
	m, _ := hl7v2.NewMessage(hl7v2.DefaultDelimiters, "2.4")
	m.Set("MSH-9.1", "ADT")
	m.Set("MSH-9.2", "A28")
	m.Set("MSH-10", "1")
	m.Set("PID-3[1].1", "123")
	m.Set("PID-3[2].1", "9434765919")
	m.Set("PID-3[2].4.1", "NHS")
	m.Set("PID-5.1", "O'Neil & Sons")
	fmt.Println(strings.ReplaceAll(m.String(), "\r", "\n"))
	// Output:
	// MSH|^~\&|||||||ADT^A28|1||2.4
	// PID|||123~9434765919^^^NHS||O'Neil \T\ Sons
}
