package postgres

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tasker-go/tasker/store/internal/bunstore"
)

// The package doc says exactly what Open creates: it named nine of the
// fourteen tables the migrations make.
func TestPackageDocNamesEveryTable(t *testing.T) {
	src, err := os.ReadFile("postgres.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package postgres")
	doc = strings.Join(strings.Fields(strings.ReplaceAll(doc, "//", "")), " ")
	ms, err := bunstore.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	create := regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?(tasker_\w+)`)
	for _, m := range ms {
		for _, c := range create.FindAllStringSubmatch(m.SQL, -1) {
			if !strings.Contains(doc, c[1]+",") && !strings.Contains(doc, c[1]+" ") {
				t.Errorf("migration %03d creates %s, which the package doc does not name", m.Version, c[1])
			}
		}
	}
}
