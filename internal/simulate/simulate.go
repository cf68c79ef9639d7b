// Package simulate is a deterministic simulated model of the Northwind Pay
// support assistant of examples/support-assistant. It answers the chat
// requests promptgate makes for the example's golden cases, and the judge's
// requests, well enough to show the Friday-deploy story offline: v14
// (gpt-4o-2024-08-06, "always offer to connect them with a consultant")
// passes nearly everything; v15 ("Try to resolve the issue yourself first",
// "Be thorough") stops handing off most escalations and writes longer,
// costlier answers.
//
// The example's recorded responses come from this simulator, and tests use
// it behind internal/fakeopenai. Nothing here is random at run time: every
// choice is drawn from a hash of the case, the model and a salt, so the same
// request always gets the same answer, whatever the concurrency.
package simulate

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/registry"
)

// Markers that identify the judge and the artifact versions in a request.
const (
	judgeMarker    = "You are a strict grader"
	v14Marker      = "always offer to connect them with a consultant"
	tryFirstMarker = "Try to resolve the issue yourself first"
	thoroughMarker = "Be thorough"
)

// Behaviour rates.
const (
	// noiseRate is the share of cases that drop one required element on a
	// given model and prompt variant: ordinary flakiness, on both sides
	// (see Model.flaky).
	noiseRate = 0.03
	// tryFirstRate is the share of escalation cases that, told to "try to
	// resolve the issue yourself first", answer themselves instead of
	// handing off.
	tryFirstRate = 0.60
	// overflowRate is the share of "Be thorough" answers that, when the
	// extra sentences push them over the case's max_chars, keep them anyway.
	overflowRate = 0.12
	// schemaMaxAnswer is the output schema's maxLength of "answer".
	schemaMaxAnswer = 1200
)

// Model is the simulated assistant. It is safe for concurrent use: New
// prepares everything and Respond only reads.
type Model struct {
	byQuestion map[string]*plan
	ordered    []*plan            // longest question first, for substring matching
	byCategory map[string][]*plan // in golden-set order
	noisy      sync.Map           // model|variant → map[*plan]bool, see flaky
}

// plan is what Respond needs for one case, prepared once.
type plan struct {
	c        *registry.Case
	question string
	elems    []element
	// escalate and category are required values of the output's fields,
	// taken from regexes such as '"escalate"\s*:\s*true'; nil / "" when the
	// case does not constrain them.
	escalate *bool
	category string
	// handoff is true when the case expects a hand-off to a consultant.
	handoff bool
	forbid  []string // not_contains, lower-cased
	hints   []string // sentences the judge rubric asks for
	frust   bool     // the rubric asks to acknowledge frustration
}

// element is one thing the answer text must contain: a `contains` string
// or a sample of a `regex`.
type element struct {
	text     string
	lc       string
	re       *regexp.Regexp // set for regex elements
	handoff  bool           // satisfying it means offering a consultant
	escField bool           // the escalate field, not text (dropping it flips the field)
}

// satisfiedBy reports whether s meets the element.
func (e element) satisfiedBy(s string) bool {
	if e.re != nil {
		return e.re.MatchString(s)
	}
	return strings.Contains(strings.ToLower(s), e.lc)
}

// New indexes cases by their question variable (vars["question"]).
// Cases without one cannot be recognised in a request and are skipped.
func New(cases []*registry.Case) *Model {
	m := &Model{byQuestion: map[string]*plan{}, byCategory: map[string][]*plan{}}
	for _, c := range cases {
		q := strings.TrimSpace(c.Vars["question"])
		if q == "" {
			continue
		}
		if _, dup := m.byQuestion[q]; dup {
			continue
		}
		p := newPlan(c, q)
		m.byQuestion[q] = p
		m.ordered = append(m.ordered, p)
		m.byCategory[c.Category] = append(m.byCategory[c.Category], p)
	}
	sort.SliceStable(m.ordered, func(i, j int) bool {
		return len(m.ordered[i].question) > len(m.ordered[j].question)
	})
	return m
}

func newPlan(c *registry.Case, q string) *plan {
	p := &plan{c: c, question: q}
	for _, s := range c.Expect.NotContains {
		if s != "" {
			p.forbid = append(p.forbid, strings.ToLower(s))
		}
	}
	for _, s := range c.Expect.Contains {
		if s == "" {
			continue
		}
		lc := strings.ToLower(s)
		p.elems = append(p.elems, element{text: s, lc: lc, handoff: strings.Contains(lc, "consultant")})
	}
	for _, pat := range c.Expect.Regex {
		re, err := regexp.Compile(pat)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(pat, "escalate"):
			v := strings.Contains(pat, "true")
			if !v && !strings.Contains(pat, "false") {
				continue
			}
			p.escalate = &v
			p.elems = append(p.elems, element{text: pat, re: re, escField: true})
			continue
		case strings.Contains(pat, `"category"`):
			if s, ok := sample(pat); ok {
				if v := lastQuoted(s); v != "" {
					p.category = v
				}
			}
			continue
		}
		s, ok := sample(pat)
		if !ok {
			continue
		}
		p.elems = append(p.elems, element{text: s, lc: strings.ToLower(s), re: re, handoff: re.MatchString("consultant")})
	}
	for _, e := range p.elems {
		if e.handoff && !e.escField {
			p.handoff = true
		}
	}
	if p.escalate != nil && *p.escalate {
		p.handoff = true
	}
	if r := strings.ToLower(c.Expect.Judge); r != "" {
		if containsAny(r, "declines to", "decline to", "disclose") {
			p.hints = append(p.hints, "I cannot share that, whoever is asking, but I am happy to help with your own account.")
		}
		if strings.Contains(r, "refund") {
			p.hints = append(p.hints, "I cannot promise a refund myself, but you can ask for a review and the team will decide.")
		}
		p.frust = strings.Contains(r, "frustration")
	}
	return p
}

// lastQuoted returns the last "quoted" string in s.
func lastQuoted(s string) string {
	j := strings.LastIndexByte(s, '"')
	if j <= 0 {
		return ""
	}
	i := strings.LastIndexByte(s[:j], '"')
	if i < 0 {
		return ""
	}
	return s[i+1 : j]
}

// Respond answers one chat completion request: a verdict for a judge
// request, otherwise the assistant's JSON answer for the golden case the
// last user message asks about.
func (m *Model) Respond(req fakeopenai.ChatRequest) fakeopenai.Reply {
	var content string
	if isJudge(req) {
		content = judge(req.LastUser())
	} else {
		content = m.assistant(req)
	}
	var all strings.Builder
	for _, msg := range req.Messages {
		all.WriteString(msg.Content)
	}
	return fakeopenai.Reply{
		Content:          content,
		FinishReason:     "stop",
		PromptTokens:     fakeopenai.EstimateTokens(all.String()),
		CompletionTokens: fakeopenai.EstimateTokens(content),
	}
}

func isJudge(req fakeopenai.ChatRequest) bool {
	for _, msg := range req.Messages {
		if msg.Role == "system" {
			return strings.HasPrefix(strings.TrimSpace(msg.Content), judgeMarker)
		}
	}
	return false
}

// lookup finds the case whose question appears in the user message.
func (m *Model) lookup(user string) *plan {
	if p, ok := m.byQuestion[strings.TrimSpace(user)]; ok {
		return p
	}
	if _, q, ok := strings.Cut(user, "Customer question: "); ok {
		if p, ok := m.byQuestion[strings.TrimSpace(q)]; ok {
			return p
		}
	}
	for _, p := range m.ordered {
		if strings.Contains(user, p.question) {
			return p
		}
	}
	return nil
}

// variant is the prompt behaviour a request shows.
type variant struct {
	tryFirst bool // "Try to resolve the issue yourself first"
	thorough bool // "Be thorough"
	label    string
}

func detect(req fakeopenai.ChatRequest) variant {
	var sys strings.Builder
	for _, msg := range req.Messages {
		if msg.Role == "system" || msg.Role == "developer" {
			sys.WriteString(msg.Content)
			sys.WriteByte('\n')
		}
	}
	s := sys.String()
	v := variant{tryFirst: strings.Contains(s, tryFirstMarker), thorough: strings.Contains(s, thoroughMarker)}
	switch {
	case strings.Contains(s, v14Marker):
		v.label = "v14"
	case v.tryFirst || v.thorough:
		v.label = "v15"
	default:
		v.label = "base"
	}
	return v
}

// genericAnswer is the reply to a question the simulator has no case for.
const genericAnswer = "Thank you for your message. I can help with billing, cards, account security and disputes. Could you tell me a little more about what you need?"

func (m *Model) assistant(req fakeopenai.ChatRequest) string {
	p := m.lookup(req.LastUser())
	if p == nil {
		return encode(output{Answer: genericAnswer, Escalate: false, Category: "smalltalk"})
	}
	v := detect(req)
	salt := req.Model + "|" + v.label
	o := opts{salt: salt, drop: -1, thorough: v.thorough}
	if m.flaky(p, req.Model, v.label) {
		o.drop = p.dropCandidate(salt)
	}
	if v.tryFirst && p.c.Category == "escalation" && p.handoff && unit(p.c.ID, salt, "try-first") < tryFirstRate {
		o.selfHelp = true
	}
	return p.compose(o)
}

// flaky reports whether p is one of the cases that drop an element on
// model with the prompt variant label. The choice is stratified so that
// flakiness spreads over the golden set instead of clustering by chance in
// one category, which would swamp the per-category deltas the example is
// about: walking the categories in order, each gets floor(carry) flaky
// cases, where carry accumulates noiseRate × the category's size from a
// hash-drawn start (so 3% of 24 cases is one case or none, and about 3% of
// the whole set). Which cases of a category are flaky is drawn from a hash
// of the case, the model and the variant, so each side has its own.
func (m *Model) flaky(p *plan, model, label string) bool {
	key := model + "|" + label
	v, ok := m.noisy.Load(key)
	if !ok {
		v, _ = m.noisy.LoadOrStore(key, m.pickFlaky(model, label))
	}
	return v.(map[*plan]bool)[p]
}

func (m *Model) pickFlaky(model, label string) map[*plan]bool {
	cats := make([]string, 0, len(m.byCategory))
	for cat := range m.byCategory {
		cats = append(cats, cat)
	}
	sort.Strings(cats)
	out := map[*plan]bool{}
	carry := unit(label, "noise-quota")
	for _, cat := range cats {
		plans := m.byCategory[cat]
		carry += float64(len(plans)) * noiseRate
		k := int(carry)
		carry -= float64(k)
		var cand []*plan
		for _, p := range plans {
			if len(p.elems) > 0 {
				cand = append(cand, p)
			}
		}
		sort.SliceStable(cand, func(i, j int) bool {
			return unit(cand[i].c.ID, model, label, "noise") < unit(cand[j].c.ID, model, label, "noise")
		})
		for i := 0; i < k && i < len(cand); i++ {
			out[cand[i]] = true
		}
	}
	return out
}

// dropCandidate picks the element a flaky answer leaves out, or -1.
func (p *plan) dropCandidate(salt string) int {
	if len(p.elems) == 0 {
		return -1
	}
	return int(unit(p.c.ID, salt, "drop") * float64(len(p.elems)))
}

// opts steer one composition.
type opts struct {
	salt     string
	drop     int  // index into elems to leave out (flakiness), -1 for none
	selfHelp bool // answer without a hand-off ("try to resolve it yourself first")
	thorough bool // add explanatory sentences ("Be thorough")
}

// output is the assistant's JSON answer, in the artifact's output_schema.
type output struct {
	Answer   string `json:"answer"`
	Escalate bool   `json:"escalate"`
	Category string `json:"category"`
}

// encode writes compact JSON without HTML escaping, so "Cards > Freeze
// card" stays readable and matchable by the golden regexes.
func encode(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimRight(b.String(), "\n")
}

// sentence is one sentence of an answer; optional ones may be dropped to
// fit max_chars.
type sentence struct {
	text     string
	optional bool
	closing  bool // the last sentence; extra sentences go before it
}

// compose writes the answer for p.
func (p *plan) compose(o opts) string {
	id := p.c.ID
	// What to leave out: the flaky element, and in self-help mode every
	// hand-off element.
	var excluded []element
	escalate := p.handoff
	if p.escalate != nil {
		escalate = *p.escalate
	}
	include := make([]element, 0, len(p.elems))
	for i, e := range p.elems {
		drop := i == o.drop || (o.selfHelp && (e.handoff || e.escField))
		switch {
		case e.escField && drop:
			if i == o.drop {
				escalate = !escalate
			}
		case e.escField:
		case drop:
			excluded = append(excluded, e)
		default:
			include = append(include, e)
		}
	}
	if o.selfHelp {
		escalate = false
	}
	bad := func(s string) bool {
		lc := strings.ToLower(s)
		for _, f := range p.forbid {
			if strings.Contains(lc, f) {
				return true
			}
		}
		for _, e := range excluded {
			if e.satisfiedBy(s) {
				return true
			}
		}
		return o.selfHelp && strings.Contains(lc, "consultant")
	}
	// firstGood returns the first acceptable sentence of pool, starting at a
	// hash-chosen offset.
	firstGood := func(pool []string, salt string) string {
		if len(pool) == 0 {
			return ""
		}
		start := int(unit(id, o.salt, salt) * float64(len(pool)))
		for k := range pool {
			if s := pool[(start+k)%len(pool)]; !bad(s) {
				return s
			}
		}
		return ""
	}

	category := p.category
	if category == "" {
		category = p.c.Category
		switch {
		case !escalate && category == "escalation":
			category = topic(p.question)
		case escalate && category != "escalation":
			category = "escalation"
		}
	}

	var ss []sentence
	switch {
	case o.selfHelp:
		if s := firstOK(selfHelpFor(p.question), bad); s != "" {
			ss = append(ss, sentence{text: "Let me try to help you with this first: " + s})
		} else {
			ss = append(ss, sentence{text: "Let me try to help you with this first."})
		}
	case p.frust && !bad(frustrated):
		ss = append(ss, sentence{text: frustrated, optional: true})
	default:
		pool := openings[p.c.Category]
		if p.c.Category == "escalation" && !escalate {
			pool = openings["dispute-self"]
		}
		if pool == nil {
			pool = openings[""]
		}
		if s := firstGood(pool, "opening"); s != "" {
			ss = append(ss, sentence{text: s, optional: true})
		}
	}
	for _, h := range p.hints {
		if !bad(h) {
			ss = append(ss, sentence{text: h})
		}
	}
	text := func() string {
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = s.text
		}
		return strings.Join(parts, " ")
	}
	// Weave in the required elements: a stock sentence that carries one
	// where there is one, the rest in one closing sentence.
	var rest []string
	for _, e := range include {
		if e.satisfiedBy(text()) {
			continue
		}
		// Prefer a stock sentence that carries the element's own text
		// (the scope sentence for "billing", not any sentence with "card").
		found := ""
		for pass := 0; pass < 2 && found == ""; pass++ {
			for _, s := range stock {
				if (pass == 1 || fitsElement(element{lc: e.lc}, s)) && fitsElement(e, s) && !bad(s) {
					found = s
					break
				}
			}
		}
		if found != "" {
			ss = append(ss, sentence{text: found})
		} else {
			rest = append(rest, e.text)
		}
	}
	if len(rest) > 0 {
		lead := leads[int(unit(id, o.salt, "lead")*float64(len(leads)))]
		ss = append(ss, sentence{text: lead + joinList(rest) + "."})
	}
	if p.c.Category == "smalltalk" && !bad(scope) && !strings.Contains(text(), scope) {
		ss = append(ss, sentence{text: scope, optional: true})
	}
	switch {
	case o.selfHelp:
		if !bad(selfHelpClose) {
			ss = append(ss, sentence{text: selfHelpClose, optional: true, closing: true})
		}
	default:
		pool := closings[p.c.Category]
		if p.c.Category == "escalation" && !escalate {
			pool = closings["dispute-self"]
		}
		if s := firstGood(pool, "closing"); s != "" {
			ss = append(ss, sentence{text: s, optional: true, closing: true})
		}
	}

	maxChars := p.c.Expect.MaxChars
	render := func() string {
		return encode(output{Answer: text(), Escalate: escalate, Category: category})
	}
	fits := func(out string) bool {
		if utf8.RuneCountInString(text()) > schemaMaxAnswer {
			return false
		}
		return maxChars <= 0 || utf8.RuneCountInString(out) <= maxChars
	}
	// Drop optional sentences, last first, until the answer fits.
	for out := render(); !fits(out); out = render() {
		k := -1
		for i := len(ss) - 1; i >= 0; i-- {
			if ss[i].optional {
				k = i
				break
			}
		}
		if k < 0 {
			break
		}
		ss = append(ss[:k], ss[k+1:]...)
	}
	if !o.thorough {
		return render()
	}

	// "Be thorough": a few more sentences, about +60-90% output.
	base := utf8.RuneCountInString(render())
	target := int(float64(base) * (0.6 + 0.3*unit(id, o.salt, "thorough")))
	pool := extra[p.c.Category]
	if p.c.Category == "escalation" && (!escalate || o.selfHelp) {
		pool = extra["dispute-self"]
	}
	if pool == nil {
		pool = extra[""]
	}
	start := int(unit(id, o.salt, "extra") * float64(len(pool)))
	added, n := 0, 0
	at := len(ss) // insert before the closing sentence, if there is one
	if at > 0 && ss[at-1].closing {
		at--
	}
	var ext []int
	for k := 0; k < len(pool) && n < 4 && added < target; k++ {
		s := pool[(start+k)%len(pool)]
		if bad(s) || strings.Contains(text(), s) {
			continue
		}
		if l := utf8.RuneCountInString(s) + 1; n >= 2 && added+l/2 > target {
			break // this one would overshoot more than it helps
		}
		ss = slices.Insert(ss, at, sentence{text: s})
		ext = append(ext, at)
		at++
		added += utf8.RuneCountInString(s) + 1
		n++
	}
	out := render()
	keepOverflow := unit(id, o.salt, "overflow") < overflowRate
	for !fits(out) && len(ext) > 0 {
		if keepOverflow && utf8.RuneCountInString(text()) <= schemaMaxAnswer {
			break
		}
		k := ext[len(ext)-1]
		ext = ext[:len(ext)-1]
		ss = append(ss[:k], ss[k+1:]...)
		out = render()
	}
	return out
}

// Self-help steps, for answers that try to resolve an escalation case
// instead of handing it off.
const (
	selfHelpDuplicate = "check the payment under Transactions in the app; a duplicate that is still pending often drops off on its own within a few days."
	selfHelpDispute   = "you can report the payment yourself under Transactions > select the payment > Report a problem, and the team will review it."
	selfHelpFraud     = "freeze your card in the app under Cards > Freeze card and check your recent transactions for anything else you do not recognise."
	selfHelpGeneric   = "tell me a bit more about what happened, and I will walk you through the steps in the app."
)

// selfHelpFor orders the self-help steps by how well they fit the question.
func selfHelpFor(question string) []string {
	q := strings.ToLower(question)
	switch {
	case containsAny(q, "didn't make", "did not make", "don't recognise", "never seen", "never stayed", "hacked", "code", "pretending"):
		return []string{selfHelpFraud, selfHelpDispute, selfHelpGeneric}
	case containsAny(q, "twice", "two times", "double", "doppelt", "dos veces", "2 x"):
		return []string{selfHelpDuplicate, selfHelpDispute, selfHelpGeneric}
	case containsAny(q, "dispute", "never delivered", "never arrived", "did not arrive", "fake", "cancel", "none of the orders"):
		return []string{selfHelpDispute, selfHelpGeneric}
	}
	return []string{selfHelpGeneric, selfHelpDispute}
}

// firstOK returns the first of ss that is not bad, or "".
func firstOK(ss []string, bad func(string) bool) string {
	for _, s := range ss {
		if !bad(s) {
			return s
		}
	}
	return ""
}

// fitsElement reports whether the stock sentence s carries element e: a
// regex match, or the contains string as a whole word (so "free" is not
// carried by "freeze").
func fitsElement(e element, s string) bool {
	if e.re != nil {
		return e.re.MatchString(s)
	}
	lc := strings.ToLower(s)
	for i := 0; ; {
		j := strings.Index(lc[i:], e.lc)
		if j < 0 {
			return false
		}
		j += i
		before, _ := utf8.DecodeLastRuneInString(lc[:j])
		after, _ := utf8.DecodeRuneInString(lc[j+len(e.lc):])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		i = j + 1
	}
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// joinList writes "a", "a and b", "a, b and c".
func joinList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// topic is the category of a dispute the assistant handles itself.
func topic(question string) string {
	q := strings.ToLower(question)
	for _, w := range []string{"hack", "password", "code", "phish", "pretending", "login", "log in"} {
		if strings.Contains(q, w) {
			return "security"
		}
	}
	return "billing"
}

// Sentences. Stock sentences carry common required elements; openings and
// extras set the scene. Any sentence that would break a case's
// not_contains (or carry an element being left out) is skipped.
var (
	openings = map[string][]string{
		"billing": {
			"Happy to help with your payment question.",
			"Let me explain how this works on your account.",
			"Here is how this works at Northwind Pay.",
		},
		"cards": {
			"Happy to help with your card.",
			"Here is what you can do in the app.",
			"Let me walk you through this for your card.",
		},
		"security": {
			"Thanks for checking with us, your account's safety comes first.",
			"Let me help you keep your account secure.",
			"Good that you asked before doing anything else.",
		},
		"escalation": {
			"I am sorry about this, and I will make sure a person looks at it.",
			"Thank you for telling us, this needs a closer look by a colleague.",
			"I understand, let me get this to the right person.",
		},
		"dispute-self": {
			"You can sort this out yourself in a few steps.",
			"Here is how you can handle this dispute yourself.",
		},
		"smalltalk": {
			"Thanks for your message!",
			"Hi, nice to hear from you!",
			"Hello, and thanks for writing!",
		},
		"": {"Thanks for your message."},
	}
	frustrated    = "I am sorry this has been so frustrating."
	scope         = "I can help with billing, cards, account security and disputes."
	selfHelpClose = "If that does not solve it, just let me know."
	stock         = []string{
		"A consultant will continue with you in this chat.",
		"Please freeze your card right away in the app under Cards > Freeze card.",
		"You can unfreeze the card again at any time in the same place.",
		"You can open a dispute yourself in the app: Transactions > select the payment > Report a problem.",
		"Please never share your PIN, password or one-time codes with anyone, not even with us.",
		"Northwind only sends links to northwindpay.com, so this message is a phishing attempt.",
		"I do not know that for sure, so please check the help centre in the app.",
		"I'm Nova, the virtual assistant of Northwind Pay.",
		scope,
		"Could you tell me a bit more about what happened?",
		"You can see and change your card limits in the app under Cards > Limits.",
	}
	leads = []string{
		"What matters here: ",
		"The key points: ",
		"In short: ",
	}
	closings = map[string][]string{
		"billing": {
			"You can follow the payment under Transactions in the app.",
			"The details also appear on your monthly statement in the app.",
		},
		"cards": {
			"Changes to your card take effect in the app right away.",
			"You can check the card's status under Cards in the app.",
		},
		"security": {
			"If anything else looks unusual, lock the card in the app first.",
			"You can check recent logins in the app under Settings.",
		},
		"escalation": {
			"Please keep this chat open so the conversation can continue here.",
			"Everything you already told me stays in this chat.",
		},
		"dispute-self": {
			"The card scheme decides the outcome, and you can follow it in the app.",
		},
	}
	// extra are the explanatory sentences "Be thorough" adds.
	extra = map[string][]string{
		"billing": {
			"Every fee is listed in your plan's price list in the app.",
			"Pending amounts are only reserved until the merchant settles the payment.",
			"You can download your monthly statements from the app to compare amounts.",
			"Some services are included up to a monthly allowance and charged after that.",
			"If anything still looks wrong, tell me the date, amount and merchant.",
		},
		"cards": {
			"All card settings are in the app under Cards and apply immediately.",
			"When a payment is declined, the app shows the reason next to it.",
			"A new physical card usually arrives within a few business days.",
			"Which card is it about? The last four digits are enough.",
			"Some terminals handle cards differently, so note where it happened.",
		},
		"security": {
			"Northwind never asks for codes or passwords by SMS, email or phone.",
			"You can review the devices logged into your account in the app.",
			"It also helps to turn on app lock and check recent transactions.",
			"When did you first notice this, so I can suggest the next step?",
			"Security changes take effect at once and you get a notification.",
		},
		"escalation": {
			"Meanwhile you can follow the payment under Transactions in the app.",
			"It helps to have the date, the amount and the merchant at hand.",
			"The card scheme decides disputes, which can take several weeks.",
			"If the card might be compromised, you can lock it in the app.",
		},
		"dispute-self": {
			"It helps to contact the merchant once more in writing and keep the reply.",
			"The card scheme decides disputes, which can take several weeks.",
			"Keep receipts and emails ready, the card scheme may ask for them.",
			"What was the date and the amount of the payment?",
		},
		"smalltalk": {
			"I am here for your account, cards, payments and security.",
			"Just ask about a payment, a fee or your card.",
			"Many answers are also in the help centre in the app.",
			"Is there anything about your account I can help with?",
		},
		"": {
			"You can find more details in the help centre in the app.",
			"If anything is unclear, just ask.",
		},
	}
)

// unit is a hash of parts mapped to [0, 1): the simulator's only source of
// variation. FNV-1a with a final avalanche step so that nearby inputs
// spread evenly.
func unit(parts ...string) float64 {
	h := fnv.New64a()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return float64(x>>11) / (1 << 53)
}

// sample returns a short string the regular expression pattern matches,
// built by walking its syntax tree: a literal gives its text (in the
// pattern's own spelling when case-insensitive), a character class a
// printable member (a space when it has one), x* and x? nothing (x* a space
// when x is whitespace, for "Settings > Security"), x+ one x, x{n,m} n
// copies, an alternation its first branch without a wildcard (else its
// first branch), a wildcard "-", anchors and word boundaries nothing. ok is
// false when the pattern does not parse or cannot match.
func sample(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	g := sampler{pattern: pattern, lower: strings.ToLower(pattern)}
	s, _, ok := g.walk(re.Simplify())
	return s, ok
}

type sampler struct {
	pattern, lower string
}

// walk returns a sample of re, whether it used a wildcard, and whether re
// can match at all.
func (g sampler) walk(re *syntax.Regexp) (string, bool, bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return "", false, false
	case syntax.OpLiteral:
		s := string(re.Rune)
		if re.Flags&syntax.FoldCase != 0 {
			s = g.spelling(s)
		}
		return s, false, true
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return "", false, false
		}
		return string(classRune(re.Rune)), false, true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return "-", true, true
	case syntax.OpStar:
		if s, _, ok := g.walk(re.Sub[0]); ok && s == " " {
			return " ", false, true
		}
		return "", false, true
	case syntax.OpQuest:
		return "", false, true
	case syntax.OpPlus:
		return g.walk(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min == 0 {
			return "", false, true
		}
		s, wild, ok := g.walk(re.Sub[0])
		return strings.Repeat(s, re.Min), wild, ok
	case syntax.OpCapture:
		return g.walk(re.Sub[0])
	case syntax.OpConcat:
		var b strings.Builder
		wild := false
		for _, sub := range re.Sub {
			s, w, ok := g.walk(sub)
			if !ok {
				return "", false, false
			}
			b.WriteString(s)
			wild = wild || w
		}
		return b.String(), wild, true
	case syntax.OpAlternate:
		first, firstWild, found := "", false, false
		for _, sub := range re.Sub {
			s, w, ok := g.walk(sub)
			if !ok {
				continue
			}
			if !w {
				return s, false, true
			}
			if !found {
				first, firstWild, found = s, w, true
			}
		}
		return first, firstWild, found
	}
	// Empty match, anchors, word boundaries.
	return "", false, true
}

// spelling returns a case-insensitive literal as the pattern spells it
// (the parser keeps the smallest rune of each case fold, i.e. upper case),
// or lower-cased when the pattern does not contain it verbatim.
func (g sampler) spelling(lit string) string {
	lc := strings.ToLower(lit)
	if i := strings.Index(g.lower, lc); i >= 0 && i+len(lc) <= len(g.pattern) {
		if orig := g.pattern[i : i+len(lc)]; strings.ToLower(orig) == lc {
			return orig
		}
	}
	return lc
}

// classRune picks the member of a character class (given as rune ranges)
// to write: a space when the class has one, else its first printable
// member that needs no escaping in JSON, else its first rune.
func classRune(ranges []rune) rune {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= ' ' && ' ' <= ranges[i+1] {
			return ' '
		}
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		for r, n := ranges[i], 0; r <= ranges[i+1] && n < 256; r, n = r+1, n+1 {
			if unicode.IsPrint(r) && r != '"' && r != '\\' && r != '<' && r != '>' && r != '&' {
				return r
			}
		}
	}
	return ranges[0]
}

// judge grades the output in a judge request's user message (laid out by
// evaluator.Judge.Request: <rubric>, <customer_input>, <output>) with a few
// rules a strict grader would apply:
//   - the output must be JSON;
//   - it must not contain "guaranteed refund";
//   - when the rubric asks for a consultant / hand-off / human, the output
//     must mention a consultant and must not set "escalate" to false;
//   - when the rubric asks for calm or acknowledging frustration, the output
//     must not be defensive ("calm down", "you should have", ...);
//   - when the rubric asks to decline or not disclose, the output must
//     contain a refusal ("cannot", "can't", "unable", ...).
func judge(user string) string {
	rubric, out, ok := parseJudge(user)
	if !ok {
		return verdict(false, "The request has no output to grade.")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stripFence(out)), &doc); err != nil {
		return verdict(false, "The output is not a JSON object as required.")
	}
	lc := strings.ToLower(out)
	r := strings.ToLower(rubric)
	if strings.Contains(lc, "guaranteed refund") {
		return verdict(false, "The output promises a guaranteed refund.")
	}
	if containsAny(r, "consultant", "hand-off", "handoff", "hand off", "human") {
		if !strings.Contains(lc, "consultant") {
			return verdict(false, "The output does not offer a hand-off to a consultant.")
		}
		if esc, ok := doc["escalate"].(bool); ok && !esc {
			return verdict(false, "The output offers a consultant but does not escalate.")
		}
	}
	if containsAny(r, "calm", "frustration", "defensive") &&
		containsAny(lc, "calm down", "you should have", "you are wrong", "that is not true", "your fault") {
		return verdict(false, "The output is defensive instead of acknowledging the frustration.")
	}
	if containsAny(r, "declines to", "decline to", "disclose") &&
		!containsAny(lc, "cannot", "can't", "can not", "unable", "not able to", "won't", "will not") {
		return verdict(false, "The output does not decline the request.")
	}
	return verdict(true, "The output meets every requirement of the rubric.")
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func verdict(pass bool, reason string) string {
	return encode(struct {
		Pass   bool   `json:"pass"`
		Reason string `json:"reason"`
	}{pass, reason})
}

// parseJudge cuts the rubric and the output out of a judge user message.
func parseJudge(user string) (rubric, out string, ok bool) {
	const (
		rOpen, rClose = "<rubric>\n", "\n</rubric>"
		oOpen, oClose = "\n</customer_input>\n\n<output>\n", "\n</output>"
	)
	if i := strings.Index(user, rOpen); i >= 0 {
		if j := strings.Index(user[i+len(rOpen):], rClose); j >= 0 {
			rubric = user[i+len(rOpen) : i+len(rOpen)+j]
		}
	}
	i := strings.Index(user, oOpen)
	j := strings.LastIndex(user, oClose)
	if i < 0 || j < i+len(oOpen) {
		return rubric, "", false
	}
	return rubric, user[i+len(oOpen) : j], true
}

// stripFence removes a Markdown code fence around the whole of s.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	body := s[3 : len(s)-3]
	if nl := strings.IndexByte(body, '\n'); nl >= 0 {
		return strings.TrimSpace(body[nl+1:])
	}
	return s
}
