/* sugarcastd chat — the sensitive-word filter.
 *
 * One pass over the text whatever the length of the list: an Aho–Corasick
 * automaton over normalised characters. Normalisation is per character:
 * compatibility decomposition (NFKD: full-width "ＢＡＤ" is "BAD", "ﬁ" is
 * "fi"), then lower case, and zero-width characters dropped, so case,
 * width and invisible-joiner variants of a listed word are caught. Matching
 * is by substring, as for languages written without spaces.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast::chat {

class WordFilter
{
public:
  explicit WordFilter(const std::vector<std::string> &words);

  bool empty() const { return nodes_.size() <= 1; }
  /* True when `text` (valid UTF-8) contains a listed word. */
  bool matches(std::string_view text) const;
  /* `text` with every character of every listed word found replaced by '*'. */
  std::string mask(std::string_view text, bool *changed = nullptr) const;

private:
  struct Node
  {
    std::vector<std::pair<uint32_t, uint32_t>> next; /* (character, node), sorted */
    uint32_t fail = 0;
    uint32_t depth = 0;
    uint32_t match = 0; /* length of the longest word ending here (via fail links too) */
  };
  uint32_t step(uint32_t state, uint32_t ch) const;
  uint32_t child(uint32_t state, uint32_t ch) const;
  /* Calls on_match(end_index, length) in normalised characters. */
  template <typename F>
  void scan(std::string_view text, std::vector<uint32_t> *origin, F on_match) const;

  std::vector<Node> nodes_;
};

/* The normalised characters of `ch` (what the filter compares). */
void normalise_char(uint32_t ch, std::vector<uint32_t> &out);

} // namespace sugarcast::chat
