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

// Setting is the value the runtime parameters p of a dsn
// (pgconn.Config.RuntimeParams) give the server setting name: the
// parameter's, or else the one options sets (inOptions).
func Setting(p map[string]string, name string) (value string, inOptions, ok bool) {
	if v, ok := p[name]; ok {
		return v, false, true
	}
	v, ok := Settings(p["options"])[name]
	return v, ok, ok
}

// Bool reads v as PostgreSQL reads a boolean setting (a prefix of true,
// false, yes or no; on, off, 1 or 0; in any case); ok is false for
// anything else, which the server refuses itself.
func Bool(v string) (on, ok bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "":
		return false, false
	case v == "1" || v == "on" || strings.HasPrefix("true", v) || strings.HasPrefix("yes", v):
		return true, true
	case v == "0" || v == "off" || v == "of" || strings.HasPrefix("false", v) || strings.HasPrefix("no", v):
		return false, true
	}
	return false, false
}
