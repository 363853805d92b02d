package change

import "testing"

func TestUnifiedDiff(t *testing.T) {
	cases := []struct {
		name, a, b, want string
	}{
		{"equal texts have no diff", "a\nb\n", "a\nb\n", ""},
		{"one changed line, with context", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n",
			"--- x (live)\n+++ x (after)\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"},
		{"created: every line added", "", "kind: Pod\nname: p\n",
			"--- x (live)\n+++ x (after)\n@@ -0,0 +1,2 @@\n+kind: Pod\n+name: p\n"},
		{"deleted: every line removed", "kind: Pod\n", "",
			"--- x (live)\n+++ x (after)\n@@ -1 +0,0 @@\n-kind: Pod\n"},
		{"a last line without a newline", "a\nb", "a\nc",
			"--- x (live)\n+++ x (after)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"},
		{"distant changes make two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n",
			"--- x (live)\n+++ x (after)\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+Y\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := UnifiedDiff("x (live)", "x (after)", c.a, c.b); got != c.want {
				t.Errorf("UnifiedDiff(%q, %q) =\n%s\nwant\n%s", c.a, c.b, got, c.want)
			}
		})
	}
}
