package main

import (
	"io"
	"os"
)

// isTerminal says whether w is a character device (a terminal), as opposed to a pipe or file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
