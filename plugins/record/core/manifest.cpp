/* Sugarcast — a recording's manifest and VOD playlist. */
#include "manifest.h"

#include "playlist.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace sugarcast::record {

namespace {

struct StateName
{
  State state;
  const char *name;
};
constexpr StateName kStates[] = {{State::Recording, "recording"},
                                 {State::Complete, "complete"},
                                 {State::Incomplete, "incomplete"},
                                 {State::Interrupted, "interrupted"}};

/* Reads an integer member; false when absent or not an integer. */
bool get_int(JsonObject *o, const char *name, int64_t &out)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
    return false;
  out = json_node_get_int(n);
  return true;
}

} // namespace

const char *state_name(State state)
{
  for (const auto &s : kStates)
    if (s.state == state)
      return s.name;
  return "recording";
}

std::optional<State> parse_state(const std::string &name)
{
  for (const auto &s : kStates)
    if (name == s.name)
      return s.state;
  return std::nullopt;
}

int64_t Manifest::duration() const
{
  return segments.empty() ? 0 : segments.back().start + segments.back().duration;
}

uint64_t Manifest::bytes() const
{
  uint64_t total = 0;
  for (const auto &s : segments)
    total += s.bytes;
  return total;
}

std::string to_json(const Manifest &m)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "version");
  json_builder_add_int_value(b, m.version);
  json_builder_set_member_name(b, "state");
  json_builder_add_string_value(b, state_name(m.state));
  json_builder_set_member_name(b, "started_us");
  json_builder_add_int_value(b, m.started_us);
  {
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(m.started_us / G_USEC_PER_SEC);
    g_autofree gchar *iso = dt ? g_date_time_format_iso8601(dt) : nullptr;
    json_builder_set_member_name(b, "started");
    json_builder_add_string_value(b, iso ? iso : "");
  }
  json_builder_set_member_name(b, "ended_us");
  json_builder_add_int_value(b, m.ended_us);
  json_builder_set_member_name(b, "duration_ns");
  json_builder_add_int_value(b, m.duration());
  json_builder_set_member_name(b, "bytes");
  json_builder_add_int_value(b, static_cast<int64_t>(m.bytes()));
  json_builder_set_member_name(b, "video");
  json_builder_add_boolean_value(b, m.video);
  json_builder_set_member_name(b, "audio");
  json_builder_add_boolean_value(b, m.audio);
  json_builder_set_member_name(b, "segment_target_ns");
  json_builder_add_int_value(b, m.segment_target);
  json_builder_set_member_name(b, "reason");
  json_builder_add_string_value(b, m.reason.c_str());
  json_builder_set_member_name(b, "segments");
  json_builder_begin_array(b);
  for (const auto &s : m.segments) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "uri");
    json_builder_add_string_value(b, s.uri.c_str());
    json_builder_set_member_name(b, "start_ns");
    json_builder_add_int_value(b, s.start);
    json_builder_set_member_name(b, "duration_ns");
    json_builder_add_int_value(b, s.duration);
    json_builder_set_member_name(b, "bytes");
    json_builder_add_int_value(b, static_cast<int64_t>(s.bytes));
    /* [time_ns, byte offset] pairs: where a reader may start decoding. */
    json_builder_set_member_name(b, "keyframes");
    json_builder_begin_array(b);
    for (const auto &k : s.keyframes) {
      json_builder_begin_array(b);
      json_builder_add_int_value(b, k.time);
      json_builder_add_int_value(b, static_cast<int64_t>(k.offset));
      json_builder_end_array(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "dateranges");
  json_builder_begin_array(b);
  for (const auto &d : m.dateranges) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, d.id.c_str());
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, d.klass.c_str());
    json_builder_set_member_name(b, "start_us");
    json_builder_add_int_value(b, d.start_us);
    json_builder_set_member_name(b, "duration_ns");
    json_builder_add_int_value(b, d.duration);
    /* [name, value, quoted] triples */
    json_builder_set_member_name(b, "attributes");
    json_builder_begin_array(b);
    for (const auto &a : d.attributes) {
      json_builder_begin_array(b);
      json_builder_add_string_value(b, a.name.c_str());
      json_builder_add_string_value(b, a.value.c_str());
      json_builder_add_boolean_value(b, a.quoted);
      json_builder_end_array(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);

  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  g_autofree gchar *text = json_generator_to_data(gen, nullptr);
  return std::string(text) + "\n";
}

std::optional<Manifest> parse_manifest(const std::string &text, std::string &error)
{
  /* Our own files, but read back after crashes and by tools: refuse deep or
   * huge documents before json-glib recurses into them. */
  if (text.size() > 64 * 1024 * 1024) {
    error = "manifest larger than 64 MiB";
    return std::nullopt;
  }
  int depth = 0;
  for (char c : text) {
    if (c == '[' || c == '{')
      ++depth;
    else if (c == ']' || c == '}')
      --depth;
    if (depth > 8) {
      error = "manifest nested deeper than 8 levels";
      return std::nullopt;
    }
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), &err)) {
    error = std::string("not JSON: ") + err->message;
    return std::nullopt;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    error = "the manifest is not a JSON object";
    return std::nullopt;
  }
  JsonObject *o = json_node_get_object(root);
  Manifest m;
  int64_t v = 0;
  if (!get_int(o, "version", v) || v != 1) {
    error = "\"version\" must be 1";
    return std::nullopt;
  }
  const gchar *state = json_object_get_string_member_with_default(o, "state", "");
  auto st = parse_state(state);
  if (!st) {
    error = std::string("\"state\" is \"") + state +
            "\", expected recording, complete, incomplete or interrupted";
    return std::nullopt;
  }
  m.state = *st;
  if (!get_int(o, "started_us", m.started_us)) {
    error = "\"started_us\" missing or not an integer";
    return std::nullopt;
  }
  get_int(o, "ended_us", m.ended_us);
  get_int(o, "segment_target_ns", m.segment_target);
  m.video = json_object_get_boolean_member_with_default(o, "video", true);
  m.audio = json_object_get_boolean_member_with_default(o, "audio", true);
  m.reason = json_object_get_string_member_with_default(o, "reason", "");
  JsonArray *segs = json_object_get_array_member(o, "segments");
  if (!segs) {
    error = "\"segments\" missing or not an array";
    return std::nullopt;
  }
  for (guint i = 0; i < json_array_get_length(segs); ++i) {
    JsonNode *n = json_array_get_element(segs, i);
    const std::string where = "segments[" + std::to_string(i) + "]";
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
      error = where + " is not an object";
      return std::nullopt;
    }
    JsonObject *so = json_node_get_object(n);
    Segment s;
    s.uri = json_object_get_string_member_with_default(so, "uri", "");
    if (!segment_index(s.uri)) {
      error = where + ".uri \"" + s.uri + "\" is not a segment name (segNNNNN.ts)";
      return std::nullopt;
    }
    int64_t bytes = 0;
    if (!get_int(so, "start_ns", s.start) || !get_int(so, "duration_ns", s.duration) ||
        !get_int(so, "bytes", bytes) || s.duration < 0 || bytes < 0) {
      error = where + " needs integer start_ns, duration_ns >= 0 and bytes >= 0";
      return std::nullopt;
    }
    s.bytes = static_cast<uint64_t>(bytes);
    if (JsonArray *keys = json_object_get_array_member(so, "keyframes")) {
      for (guint k = 0; k < json_array_get_length(keys); ++k) {
        JsonNode *kn = json_array_get_element(keys, k);
        JsonArray *pair = JSON_NODE_HOLDS_ARRAY(kn) ? json_node_get_array(kn) : nullptr;
        if (!pair || json_array_get_length(pair) != 2) {
          error = where + ".keyframes[" + std::to_string(k) + "] is not a [time, offset] pair";
          return std::nullopt;
        }
        const int64_t offset = json_array_get_int_element(pair, 1);
        if (offset < 0 || static_cast<uint64_t>(offset) > s.bytes) {
          error = where + ".keyframes[" + std::to_string(k) + "] offset outside the segment";
          return std::nullopt;
        }
        s.keyframes.push_back({json_array_get_int_element(pair, 0), static_cast<uint64_t>(offset)});
      }
    }
    m.segments.push_back(std::move(s));
  }
  /* Optional: manifests written before dateranges existed have none. */
  if (JsonArray *ranges = json_object_has_member(o, "dateranges")
                              ? json_object_get_array_member(o, "dateranges")
                              : nullptr) {
    for (guint i = 0; i < json_array_get_length(ranges); ++i) {
      JsonNode *n = json_array_get_element(ranges, i);
      const std::string where = "dateranges[" + std::to_string(i) + "]";
      JsonObject *ro = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
      abr::DateRangeTag d;
      if (!ro || !get_int(ro, "start_us", d.start_us)) {
        error = where + " needs an integer start_us";
        return std::nullopt;
      }
      d.id = json_object_get_string_member_with_default(ro, "id", "");
      d.klass = json_object_get_string_member_with_default(ro, "class", "");
      get_int(ro, "duration_ns", d.duration);
      if (d.id.empty()) {
        error = where + ".id is empty";
        return std::nullopt;
      }
      if (JsonArray *attrs = json_object_get_array_member(ro, "attributes")) {
        for (guint k = 0; k < json_array_get_length(attrs); ++k) {
          JsonNode *an = json_array_get_element(attrs, k);
          JsonArray *t = JSON_NODE_HOLDS_ARRAY(an) ? json_node_get_array(an) : nullptr;
          abr::DateRangeAttribute a;
          if (!t || json_array_get_length(t) != 3 ||
              !JSON_NODE_HOLDS_VALUE(json_array_get_element(t, 0)) ||
              !JSON_NODE_HOLDS_VALUE(json_array_get_element(t, 1))) {
            error = where + ".attributes[" + std::to_string(k) + "] is not [name, value, quoted]";
            return std::nullopt;
          }
          a.name = json_array_get_string_element(t, 0) ? json_array_get_string_element(t, 0) : "";
          a.value = json_array_get_string_element(t, 1) ? json_array_get_string_element(t, 1) : "";
          a.quoted = json_array_get_boolean_element(t, 2);
          if (!abr::normalise_attribute_name(a.name)) {
            error = where + ".attributes[" + std::to_string(k) + "] name \"" + a.name +
                    "\" is not X- followed by letters, digits and '-'";
            return std::nullopt;
          }
          d.attributes.push_back(std::move(a));
        }
      }
      m.dateranges.push_back(std::move(d));
    }
  }
  return m;
}

std::optional<Manifest> read_manifest(const std::string &path, std::string &error)
{
  g_autofree gchar *text = nullptr;
  gsize size = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path.c_str(), &text, &size, &err)) {
    error = err->message;
    return std::nullopt;
  }
  auto m = parse_manifest(std::string(text, size), error);
  if (!m)
    error = path + ": " + error;
  return m;
}

std::string render_playlist(const Manifest &m)
{
  int64_t longest = 0;
  for (const auto &s : m.segments)
    longest = std::max(longest, s.duration);
  const int target = static_cast<int>(std::max<int64_t>(1, (longest + 999999999) / 1000000000));
  abr::MediaPlaylist playlist(abr::PlaylistType::Vod, target, 0);
  uint64_t sequence = 0;
  for (const auto &s : m.segments) {
    abr::PlaylistSegment ps;
    ps.sequence = sequence++;
    ps.uri = s.uri;
    ps.duration = s.duration;
    ps.pdt_us = m.started_us ? m.started_us + s.start / 1000 : -1;
    ps.bytes = s.bytes;
    /* Each range before the segment its start falls in (before the first
     * when it is earlier; those after the last listed wait for their segment). */
    const int64_t from_us = m.started_us + s.start / 1000;
    const int64_t to_us = from_us + s.duration / 1000;
    const bool first = ps.sequence == 0;
    for (const auto &d : m.dateranges)
      if ((d.start_us >= from_us || first) && d.start_us < to_us)
        ps.tags.push_back(abr::render_daterange(d));
    playlist.add(std::move(ps));
  }
  return playlist.render(m.state != State::Recording);
}

bool write_atomically(const std::string &path, const std::string &text, bool durable,
                      std::string &error)
{
  g_autoptr(GError) err = nullptr;
  const GFileSetContentsFlags flags = static_cast<GFileSetContentsFlags>(
      G_FILE_SET_CONTENTS_CONSISTENT | (durable ? G_FILE_SET_CONTENTS_DURABLE : 0));
  if (!g_file_set_contents_full(path.c_str(), text.data(), static_cast<gssize>(text.size()), flags,
                                0644, &err)) {
    error = err->message;
    return false;
  }
  return true;
}

bool write_manifest_files(const std::string &folder, const Manifest &manifest, bool durable,
                          std::string &error)
{
  /* Playlist first: a manifest never lists what the playlist does not. */
  return write_atomically(folder + "/" + kPlaylistName, render_playlist(manifest), durable,
                          error) &&
         write_atomically(folder + "/" + kManifestName, to_json(manifest), durable, error);
}

std::string segment_name(unsigned index)
{
  char name[32];
  std::snprintf(name, sizeof name, "seg%05u.ts", index);
  return name;
}

std::optional<unsigned> segment_index(const std::string &name)
{
  if (name.size() < 9 || name.compare(0, 3, "seg") != 0 ||
      name.compare(name.size() - 3, 3, ".ts") != 0)
    return std::nullopt;
  const std::string digits = name.substr(3, name.size() - 6);
  if (digits.size() < 5 || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  unsigned index = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), index);
  return index;
}

bool folder_names(const std::string &folder, std::vector<std::string> &names, std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GDir) dir = g_dir_open(folder.c_str(), 0, &err);
  if (!dir) {
    error = err->message;
    return false;
  }
  while (const gchar *name = g_dir_read_name(dir))
    names.emplace_back(name);
  return true;
}

bool remove_path(const std::string &path, std::string &error)
{
  if (g_remove(path.c_str()) == 0)
    return true;
  error = "could not remove " + path + ": " + std::strerror(errno);
  return false;
}

} // namespace sugarcast::record
