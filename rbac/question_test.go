package rbac_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-k8s/bulwark/rbac"
)

func TestParseAction(t *testing.T) {
	e := rbac.Compile(rbac.Builtin(), rbac.Options{})
	for _, c := range []struct {
		args         []string
		ns           string
		want         rbac.Action
		warn, errSub string
	}{
		{[]string{"get", "pods"}, "web", rbac.Action{Verb: "get", Resource: "pods", Namespace: "web"}, "", ""},
		{[]string{"get", "deployments/scale", "x"}, "web", rbac.Action{Verb: "get", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Name: "x", Namespace: "web"}, "", ""},
		{[]string{"get", "events"}, "web", rbac.Action{Verb: "get", Resource: "events", Namespace: "web"}, "", ""},
		{[]string{"get", "nodes"}, "web", rbac.Action{Verb: "get", Resource: "nodes"}, "", ""},
		{[]string{"get", "pods."}, "web", rbac.Action{Verb: "get", Resource: "pods", Namespace: "web"}, "", ""},
		{[]string{"get", "*"}, "web", rbac.Action{Verb: "get", Resource: "*", Namespace: "web"}, "", ""},
		{[]string{"get", "widgets"}, "web", rbac.Action{Verb: "get", Resource: "widgets", Namespace: "web"}, "not a built-in resource", ""},
		{[]string{"get", "/healthz"}, "web", rbac.Action{Verb: "get", Path: "/healthz"}, "", ""},
		{[]string{"get", "/healthz", "x"}, "", rbac.Action{}, "", "takes no name"},
		{[]string{"", "pods"}, "", rbac.Action{}, "", "empty verb"},
		{[]string{"get", ".apps"}, "", rbac.Action{}, "", "invalid resource"},
		{[]string{"get"}, "", rbac.Action{}, "", "want VERB"},
	} {
		a, warn, err := e.ParseAction(c.args, c.ns)
		if c.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.errSub)
			}
			continue
		}
		if err != nil || a != c.want || (c.warn == "") != (warn == "") || !strings.Contains(warn, c.warn) {
			t.Errorf("%q: %+v, %q, %v; want %+v, %q", c.args, a, warn, err, c.want, c.warn)
		}
	}
}

// FuzzParseAction: any words parse or fail with an error, never panic, and
// what parses is asked without trouble.
func FuzzParseAction(f *testing.F) {
	e := rbac.Compile(rbac.Builtin(), rbac.Options{})
	for _, s := range []string{"get\x00pods", "get\x00deployments.apps/scale\x00x", "get\x00/healthz", "x\x00.y/z", "*\x00*/*\x00*", "get\x00pods.\x00"} {
		f.Add(s, "ns")
	}
	f.Fuzz(func(t *testing.T, words, ns string) {
		args := strings.Split(words, "\x00")
		a, _, err := e.ParseAction(args, ns)
		if err != nil {
			return
		}
		if a.Verb == "" || (a.IsResource() && a.Resource == "") {
			t.Fatalf("%q parsed to %+v", args, a)
		}
		e.Check(rbac.Impersonate("u"), a)
		e.WhoCan(a)
	})
}

func TestParseQuestions(t *testing.T) {
	qs, err := rbac.ParseQuestions(strings.NewReader("# comment\n\nget\tpods\n" + "get\tpods/log\tx\tweb\talice\tg1,g2\r\n" + "get\t/healthz\t\t*\n"))
	if err != nil || len(qs) != 3 {
		t.Fatalf("%v %+v", err, qs)
	}
	if q := qs[1]; q.Line != 4 || q.As != "alice" || len(q.AsGroups) != 2 || q.Namespace != "web" || len(q.Args) != 3 {
		t.Fatalf("%+v", q)
	}
	if qs[2].Namespace != rbac.AllNamespaces {
		t.Fatalf("%+v", qs[2])
	}
	qs, err = rbac.ParseQuestions(strings.NewReader(`{"verb": "get", "resource": "pods", "allNamespaces": true, "as": "a", "asGroups": ["g"]}` + "\n"))
	if err != nil || len(qs) != 1 || qs[0].Namespace != rbac.AllNamespaces || qs[0].AsGroups[0] != "g" {
		t.Fatalf("%v %+v", err, qs)
	}
	for _, bad := range []string{
		"get\n", "\tpods\n", "a\tb\tc\td\te\tf\tg\n", "get\tpods\t\t\t\tg\n",
		`{"verb": "get"}`, `{"verb": "get", "resource": "pods", "x": 1}`, `{"verb": "get", "resource": "pods"} {}`,
		`{"verb": "get", "resource": "pods", "namespace": "a", "allNamespaces": true}`, `{"verb": "get", "resource": "pods", "asGroups": ["g"]}`,
		"{\"verb\": \"get\", \"resource\": \"pods\"}\nget\tpods\n", "get\tpods\n{", "\xff\tpods\n", strings.Repeat("a", 70<<10) + "\n",
	} {
		if _, err := rbac.ParseQuestions(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%.60q: error %v, want one naming the line", bad, err)
		}
	}
}

// FuzzParseQuestions: any input parses or fails with an error naming the
// line, in bounded memory; what parses has a verb and a resource on every
// line, and UTF-8 text.
func FuzzParseQuestions(f *testing.F) {
	f.Add("get\tpods\t\tweb\talice\tg\n")
	f.Add(`{"verb": "get", "resource": "pods", "namespace": "web"}` + "\n")
	f.Add("# c\n\nget\t/healthz\n")
	f.Fuzz(func(t *testing.T, in string) {
		qs, err := rbac.ParseQuestions(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		for _, q := range qs {
			if len(q.Args) < 2 || q.Args[0] == "" || q.Args[1] == "" || q.Line < 1 || !utf8.ValidString(strings.Join(q.Args, "")) {
				t.Fatalf("%+v", q)
			}
		}
	})
}
