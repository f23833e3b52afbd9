// Package writable tells whether this process may write a path, without
// opening it (store/sqlite's Open and the CLI's writing commands refuse a
// database file they could only read).
package writable
