package friendfinder

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are FriendFinder's parsed templates, one set per page so that each
// page's "body" is its own.
type pages struct {
	set map[string]*template.Template
}

// The data of each page.
type (
	homePage struct {
		URL, Issuer, MailURL string
		Registration         string
		Lab                  bool
	}
	resultPage struct {
		Run             *storyRun
		Issuer, MailURL string
		Lab             bool
	}
	grantsPage struct {
		Registration                          string
		Issuer, MailURL                       string
		ClientCredentials, Password, Implicit *labRun
	}
	errorPage struct {
		Title, Message string
		Lab            bool
	}
)

// page is what the layout gets: the title, whether the grants page
// exists (for the navigation), and the page's own data.
type page struct {
	Title string
	Nav   string // the name of the page, to mark the current link
	Lab   bool
	Body  any
}

var funcs = template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
}

func parsePages() *pages {
	p := &pages{set: map[string]*template.Template{}}
	for _, name := range []string{"home", "result", "grants", "implicit", "error"} {
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/steps.html", "templates/"+name+".html"))
		p.set[name] = t
	}
	return p
}

// render writes the page, or a plain 500 if a template fails: the page is
// rendered to a buffer first, so nothing half-written is sent.
func (p *pages) render(w http.ResponseWriter, status int, name string, data page) {
	var buf bytes.Buffer
	if err := p.set[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		slog.Error("friendfinder: render page", "page", name, "err", err)
		http.Error(w, "FriendFinder could not show this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// staticHandler serves the stylesheet and the fragment reader. Directory
// paths are 404, so nothing is listed.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
