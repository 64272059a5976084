/* Test support for the abr suites. See hlscheck.h. */
#include "hlscheck.h"

#include "testenv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sugarcast::test {

PipelineRun::~PipelineRun()
{
  for (GstStructure *s : element_messages)
    gst_structure_free(s);
}

std::vector<const GstStructure *> PipelineRun::messages(const char *name) const
{
  std::vector<const GstStructure *> out;
  for (const GstStructure *s : element_messages)
    if (gst_structure_has_name(s, name))
      out.push_back(s);
  return out;
}

void run_pipeline(const std::string &description, PipelineRun &run, std::chrono::seconds timeout,
                  const std::function<void(GstElement *)> &setup,
                  const std::function<void(GstElement *, const GstStructure *)> &on_message)
{
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline || error) {
    run.error = std::string("cannot parse the pipeline: ") + (error ? error->message : "?");
    if (error)
      g_error_free(error);
    if (pipeline)
      gst_object_unref(pipeline);
    return;
  }
  if (setup)
    setup(pipeline);
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!run.eos && run.error.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      run.error = "the pipeline did not finish in " + std::to_string(timeout.count()) + " s";
      break;
    }
    GstMessage *msg = gst_bus_timed_pop(bus, 100 * GST_MSECOND);
    if (!msg)
      continue;
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      run.eos = true;
      break;
    case GST_MESSAGE_ERROR: {
      GError *err = nullptr;
      gchar *debug = nullptr;
      gst_message_parse_error(msg, &err, &debug);
      run.error = std::string(err->message) + " (" + (debug ? debug : "") + ")";
      g_error_free(err);
      g_free(debug);
      break;
    }
    case GST_MESSAGE_ELEMENT:
      if (const GstStructure *s = gst_message_get_structure(msg)) {
        run.element_messages.push_back(gst_structure_copy(s));
        if (on_message)
          on_message(pipeline, s);
      }
      break;
    default:
      break;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

void inject_event_before(GstElement *pipeline, const char *element, int frame, GstEvent *event)
{
  struct Injection
  {
    int frame;
    int seen = 0;
    GstEvent *event;
  };
  GstElement *e = gst_bin_get_by_name(GST_BIN(pipeline), element);
  ASSERT_NE(e, nullptr) << "no element " << element;
  GstPad *pad = gst_element_get_static_pad(e, "src");
  auto *injection = new Injection{frame, 0, event};
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *p, GstPadProbeInfo *, gpointer data) {
        auto *in = static_cast<Injection *>(data);
        if (in->seen++ == in->frame && in->event) {
          GstEvent *ev = in->event;
          in->event = nullptr;
          gst_pad_push_event(p, ev);
        }
        return GST_PAD_PROBE_OK;
      },
      injection,
      [](gpointer data) {
        auto *in = static_cast<Injection *>(data);
        if (in->event)
          gst_event_unref(in->event);
        delete in;
      });
  gst_object_unref(pad);
  gst_object_unref(e);
}

std::map<std::string, std::string> parse_attributes(const std::string &list)
{
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < list.size()) {
    const size_t eq = list.find('=', i);
    if (eq == std::string::npos)
      break;
    const std::string name = list.substr(i, eq - i);
    std::string value;
    size_t j = eq + 1;
    if (j < list.size() && list[j] == '"') {
      const size_t close = list.find('"', j + 1);
      value = list.substr(j + 1, close - j - 1);
      j = close == std::string::npos ? list.size() : close + 1;
    } else {
      const size_t comma = list.find(',', j);
      value = list.substr(j, comma == std::string::npos ? std::string::npos : comma - j);
      j = comma == std::string::npos ? list.size() : comma;
    }
    out[name] = value;
    i = j < list.size() && list[j] == ',' ? j + 1 : j;
  }
  return out;
}

namespace {

std::vector<std::string> lines_of(const std::string &text)
{
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    lines.push_back(line);
  return lines;
}

bool starts_with(const std::string &s, const char *prefix)
{
  return s.rfind(prefix, 0) == 0;
}

} // namespace

MediaPlaylist parse_media_playlist(const std::string &text)
{
  MediaPlaylist p;
  auto fail = [&](const std::string &why) {
    p.valid = false;
    p.problem = why;
    return p;
  };
  if (!starts_with(text, "#EXTM3U\n"))
    return fail("does not start with #EXTM3U");
  if (text.back() != '\n')
    return fail("does not end with a newline");
  HlsSegment pending;
  bool have_extinf = false;
  std::string map;
  for (const auto &line : lines_of(text)) {
    if (line.empty() || line == "#EXTM3U")
      continue;
    if (starts_with(line, "#EXT-X-VERSION:"))
      p.version = std::stoi(line.substr(15));
    else if (starts_with(line, "#EXT-X-TARGETDURATION:"))
      p.target_duration = std::stoi(line.substr(22));
    else if (starts_with(line, "#EXT-X-MEDIA-SEQUENCE:"))
      p.media_sequence = std::stol(line.substr(22));
    else if (starts_with(line, "#EXT-X-DISCONTINUITY-SEQUENCE:"))
      p.discontinuity_sequence = std::stol(line.substr(30));
    else if (starts_with(line, "#EXT-X-PLAYLIST-TYPE:"))
      p.type = line.substr(21);
    else if (line == "#EXT-X-ENDLIST")
      p.endlist = true;
    else if (line == "#EXT-X-DISCONTINUITY")
      pending.discontinuity = true;
    else if (starts_with(line, "#EXT-X-PROGRAM-DATE-TIME:"))
      pending.pdt = line.substr(25);
    else if (starts_with(line, "#EXT-X-MAP:"))
      map = parse_attributes(line.substr(11))["URI"];
    else if (starts_with(line, "#EXT-X-DATERANGE:"))
      pending.dateranges.push_back(line.substr(17));
    else if (starts_with(line, "#EXTINF:")) {
      pending.duration = std::stod(line.substr(8));
      have_extinf = true;
    } else if (line[0] == '#') {
      continue;
    } else {
      if (!have_extinf)
        return fail("a URI without #EXTINF: " + line);
      pending.uri = line;
      pending.map = map;
      p.segments.push_back(pending);
      pending = HlsSegment();
      have_extinf = false;
    }
  }
  if (have_extinf)
    return fail("#EXTINF without its URI");
  if (p.target_duration <= 0 || p.media_sequence < 0)
    return fail("no target duration or media sequence");
  p.valid = true;
  return p;
}

MasterPlaylist parse_master_playlist(const std::string &text)
{
  MasterPlaylist m;
  if (!starts_with(text, "#EXTM3U\n") || text.back() != '\n') {
    m.problem = "not a whole playlist";
    return m;
  }
  MasterVariant pending;
  bool have_inf = false;
  for (const auto &line : lines_of(text)) {
    if (starts_with(line, "#EXT-X-STREAM-INF:")) {
      pending.attributes = parse_attributes(line.substr(18));
      have_inf = true;
    } else if (starts_with(line, "#EXT-X-MEDIA:")) {
      m.media.push_back(parse_attributes(line.substr(13)));
    } else if (!line.empty() && line[0] != '#') {
      if (!have_inf) {
        m.problem = "a URI without #EXT-X-STREAM-INF";
        return m;
      }
      pending.uri = line;
      m.variants.push_back(pending);
      pending = MasterVariant();
      have_inf = false;
    }
  }
  m.valid = !have_inf && !m.variants.empty();
  if (!m.valid && m.problem.empty())
    m.problem = "no variants";
  return m;
}

PlaylistWatcher::PlaylistWatcher(std::string folder)
    : folder_(std::move(folder)), thread_([this] { loop(); })
{}

PlaylistWatcher::~PlaylistWatcher()
{
  stop();
}

void PlaylistWatcher::stop()
{
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

std::vector<std::string> PlaylistWatcher::problems() const
{
  std::lock_guard<std::mutex> guard(lock_);
  return problems_;
}

void PlaylistWatcher::loop()
{
  namespace fs = std::filesystem;
  while (!stop_) {
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(folder_, ec)) {
      if (entry.path().extension() != ".m3u8")
        continue;
      std::ifstream in(entry.path(), std::ios::binary);
      if (!in)
        continue;
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      ++reads_;
      std::string problem;
      /* Playlists are replaced by renaming a whole file over them: an empty
       * or cut read means one was written in place. */
      if (text.empty())
        problem = "empty";
      else if (text.find("#EXT-X-STREAM-INF") != std::string::npos) {
        auto m = parse_master_playlist(text);
        if (!m.valid)
          problem = m.problem;
      } else if (problem.empty()) {
        auto p = parse_media_playlist(text);
        if (!p.valid)
          problem = p.problem;
        for (const auto &s : p.segments)
          if (problem.empty() && !fs::exists(fs::path(folder_) / s.uri))
            problem = "lists " + s.uri + ", which does not exist";
      }
      if (!problem.empty()) {
        std::lock_guard<std::mutex> guard(lock_);
        if (problems_.size() < 20)
          problems_.push_back(entry.path().filename().string() + ": " + problem);
      }
    }
    /* Not a wait for a condition: reading as often as it can is what lets
     * the watcher catch a playlist half-written in place (a change
     * notification would come only once the write is over). */
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<Packet> probe_packets(const std::string &path)
{
  auto r = run_process({"ffprobe", "-v", "error", "-show_entries",
                        "packet=codec_type,pts_time,flags", "-of", "csv=p=0", path});
  EXPECT_TRUE(r.ok()) << "ffprobe " << path << ": " << r.err;
  std::vector<Packet> packets;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    std::stringstream fields(line);
    std::string type, pts, flags;
    std::getline(fields, type, ',');
    std::getline(fields, pts, ',');
    std::getline(fields, flags, ',');
    if (type.empty() || pts.empty() || pts == "N/A")
      continue;
    packets.push_back({type, std::stod(pts), flags.find('K') != std::string::npos});
  }
  return packets;
}

std::vector<std::string> probe_codecs(const std::string &path)
{
  auto r = run_process({"ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name", "-of",
                        "csv=p=0", path});
  EXPECT_TRUE(r.ok()) << "ffprobe " << path << ": " << r.err;
  /* Streams of programs are listed twice: once per program, once alone. */
  std::map<std::string, std::string> by_index;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    const size_t comma = line.find(',');
    if (comma != std::string::npos)
      by_index[line.substr(0, comma)] = line.substr(comma + 1);
  }
  std::vector<std::string> codecs;
  for (const auto &[index, codec] : by_index)
    codecs.push_back(codec);
  return codecs;
}

std::string join_fmp4(const std::string &init, const std::string &segment)
{
  static int counter = 0;
  const std::string out = scratch_dir() + "/joined-" + std::to_string(++counter) + ".mp4";
  std::ofstream o(out, std::ios::binary);
  o << read_file(init) << read_file(segment);
  return out;
}

} // namespace sugarcast::test
