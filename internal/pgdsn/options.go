package pgdsn

import "strings"

// Settings returns the settings that options, a connection's options
// parameter (libpq's command-line switches for the server), makes: "-c
// name=value", "-cname=value" and "--name=value", by name in lower case
// with '-' as '_', as the server reads them. The server applies them
// before the connection's other parameters, which override them silently:
// a caller that sets a parameter checks here too that options does not.
func Settings(options string) map[string]string {
	var words []string
	var w strings.Builder
	inWord, escaped := false, false
	for _, r := range options {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	out := map[string]string{}
	for i := 0; i < len(words); i++ {
		var setting string
		switch word := words[i]; {
		case word == "-c" && i+1 < len(words):
			i++
			setting = words[i]
		case strings.HasPrefix(word, "--"):
			setting = word[2:]
		case strings.HasPrefix(word, "-c"):
			setting = word[2:]
		default:
			continue
		}
		if name, value, ok := strings.Cut(setting, "="); ok {
			out[strings.ReplaceAll(strings.ToLower(name), "-", "_")] = value
		}
	}
	return out
}
