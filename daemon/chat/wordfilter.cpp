/* sugarcastd chat — the sensitive-word filter. See wordfilter.h. */
#include "wordfilter.h"

#include <glib.h>

#include <algorithm>
#include <deque>

namespace sugarcast::chat {

void normalise_char(uint32_t ch, std::vector<uint32_t> &out)
{
  if (ch < 0x80) {
    out.push_back(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    return;
  }
  if (g_unichar_iszerowidth(ch) && !g_unichar_ismark(ch))
    return; /* zero-width spaces and joiners hide nothing */
  gunichar decomposed[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
  const gsize n = g_unichar_fully_decompose(ch, TRUE, decomposed, G_N_ELEMENTS(decomposed));
  for (gsize i = 0; i < n; ++i) {
    const gunichar d = decomposed[i];
    if (g_unichar_ismark(d))
      continue; /* accents: "café" and "cafe" compare equal */
    out.push_back(g_unichar_tolower(d));
  }
}

WordFilter::WordFilter(const std::vector<std::string> &words)
{
  nodes_.emplace_back();
  std::vector<uint32_t> norm;
  for (const auto &word : words) {
    if (!g_utf8_validate(word.data(), static_cast<gssize>(word.size()), nullptr))
      continue;
    norm.clear();
    for (const char *p = word.c_str(); *p; p = g_utf8_next_char(p))
      normalise_char(g_utf8_get_char(p), norm);
    if (norm.empty())
      continue;
    uint32_t state = 0;
    for (uint32_t ch : norm) {
      uint32_t next = child(state, ch);
      if (next == 0) {
        next = static_cast<uint32_t>(nodes_.size());
        Node node;
        node.depth = nodes_[state].depth + 1;
        nodes_.push_back(std::move(node));
        auto &edges = nodes_[state].next;
        edges.insert(std::upper_bound(edges.begin(), edges.end(), std::make_pair(ch, 0u)),
                     {ch, next});
      }
      state = next;
    }
    nodes_[state].match = std::max(nodes_[state].match, nodes_[state].depth);
  }
  /* Failure links, breadth first. */
  std::deque<uint32_t> queue;
  for (auto &[ch, n] : nodes_[0].next) {
    nodes_[n].fail = 0;
    queue.push_back(n);
  }
  while (!queue.empty()) {
    const uint32_t s = queue.front();
    queue.pop_front();
    for (auto &[ch, n] : nodes_[s].next) {
      uint32_t f = nodes_[s].fail;
      while (f != 0 && child(f, ch) == 0)
        f = nodes_[f].fail;
      const uint32_t target = child(f, ch);
      nodes_[n].fail = target != n ? target : 0;
      nodes_[n].match = std::max(nodes_[n].match, nodes_[nodes_[n].fail].match);
      queue.push_back(n);
    }
  }
}

uint32_t WordFilter::child(uint32_t state, uint32_t ch) const
{
  const auto &edges = nodes_[state].next;
  auto it = std::lower_bound(edges.begin(), edges.end(), std::make_pair(ch, 0u));
  return it != edges.end() && it->first == ch ? it->second : 0;
}

uint32_t WordFilter::step(uint32_t state, uint32_t ch) const
{
  while (true) {
    if (uint32_t next = child(state, ch))
      return next;
    if (state == 0)
      return 0;
    state = nodes_[state].fail;
  }
}

template <typename F>
void WordFilter::scan(std::string_view text, std::vector<uint32_t> *origin, F on_match) const
{
  std::vector<uint32_t> norm;
  uint32_t state = 0;
  size_t index = 0; /* normalised characters so far */
  const char *end = text.data() + text.size();
  for (const char *p = text.data(); p < end; p = g_utf8_next_char(p)) {
    norm.clear();
    normalise_char(g_utf8_get_char(p), norm);
    for (uint32_t ch : norm) {
      if (origin)
        origin->push_back(static_cast<uint32_t>(p - text.data()));
      state = step(state, ch);
      if (nodes_[state].match)
        on_match(index, nodes_[state].match);
      ++index;
    }
  }
}

bool WordFilter::matches(std::string_view text) const
{
  if (empty())
    return false;
  bool found = false;
  scan(text, nullptr, [&](size_t, uint32_t) { found = true; });
  return found;
}

std::string WordFilter::mask(std::string_view text, bool *changed) const
{
  if (changed)
    *changed = false;
  if (empty())
    return std::string(text);
  std::vector<uint32_t> origin; /* byte offset of the character each normalised one came from */
  std::vector<std::pair<size_t, size_t>> spans; /* normalised [first, last] */
  scan(text, &origin,
       [&](size_t end, uint32_t length) { spans.emplace_back(end + 1 - length, end); });
  if (spans.empty())
    return std::string(text);
  if (changed)
    *changed = true;
  /* Mark the original characters covered, then rebuild. */
  std::vector<bool> hidden(text.size() + 1, false);
  for (auto [first, last] : spans)
    for (size_t i = first; i <= last; ++i)
      hidden[origin[i]] = true;
  std::string out;
  out.reserve(text.size());
  const char *end = text.data() + text.size();
  for (const char *p = text.data(); p < end;) {
    const char *next = g_utf8_next_char(p);
    if (hidden[static_cast<size_t>(p - text.data())])
      out.push_back('*');
    else
      out.append(p, static_cast<size_t>(next - p));
    p = next;
  }
  return out;
}

} // namespace sugarcast::chat
