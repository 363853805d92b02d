package mcptool

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Cap returns s when it fits in max bytes; otherwise its longest prefix that ends on a line
// boundary (or a rune boundary, for one long line) and fits together with a marker saying how
// many bytes were left out.
func Cap(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const markerRoom = 96
	keep := max - markerRoom
	if keep < 0 {
		keep = 0
	}
	cut := keep
	if i := strings.LastIndexByte(s[:keep], '\n'); i > keep/2 {
		cut = i + 1
	} else {
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	out := s[:cut]
	if !strings.HasSuffix(out, "\n") && out != "" {
		out += "\n"
	}
	return out + fmt.Sprintf("… truncated: %d more bytes (narrow the request, or ask for less)", len(s)-cut)
}

// Table renders rows under a header with columns aligned by spaces, as kubectl prints them.
type Table struct {
	Header []string
	Rows   [][]string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// Render writes the table in at most max bytes. Rows that do not fit are left out and counted in
// a last line: "… truncated: N more items". A table with no rows renders as empty.
func (t *Table) Render(max int) string {
	if len(t.Rows) == 0 {
		return ""
	}
	widths := make([]int, len(t.Header))
	for i, h := range t.Header {
		widths[i] = len(h)
	}
	for _, r := range t.Rows {
		for i := range widths {
			if i < len(r) && len(r[i]) > widths[i] {
				widths[i] = len(r[i])
			}
		}
	}
	line := func(b *strings.Builder, cells []string) {
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if i == len(widths)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c)
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	marker := func(n int) string {
		return fmt.Sprintf("… truncated: %d more items (narrow the request: namespace, selector, limit)\n", n)
	}
	markerRoom := len(marker(len(t.Rows)))
	var b strings.Builder
	line(&b, t.Header)
	for n, r := range t.Rows {
		var row strings.Builder
		line(&row, r)
		last := n == len(t.Rows)-1
		if b.Len()+row.Len() > max || (!last && b.Len()+row.Len()+markerRoom > max) {
			b.WriteString(marker(len(t.Rows) - n))
			break
		}
		b.WriteString(row.String())
	}
	return b.String()
}
