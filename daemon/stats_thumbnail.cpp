/* sugarcastd — statistics: thumbnails. The newest segment of the rung
 * nearest StatsService::kThumbnailWidth wide, decoded to a JPEG (appsrc !
 * decodebin ! videoscale ! jpegenc, its first frame), cached per stream,
 * one decode at a time. Apart because it is the one part that runs a
 * pipeline and reads the HLS folder. */
#include "stats_impl.h"

#include "guard.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include <charconv>

namespace sugarcast {

namespace {

/* A segment (and its init section) read for a thumbnail at most. */
constexpr gsize kMaxSegmentBytes = 32u << 20;
constexpr guint kThumbnailTimeoutMs = 5000;

/* The URI lines of a playlist, with the attributes line before each
 * (#EXT-X-STREAM-INF for a master playlist). */
std::vector<std::pair<std::string, std::string>> playlist_entries(const std::string &text,
                                                                  std::string *map_uri)
{
  std::vector<std::pair<std::string, std::string>> out;
  std::string last_tag;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    start = end + 1;
    if (line.empty())
      continue;
    if (line[0] == '#') {
      if (map_uri && line.rfind("#EXT-X-MAP:", 0) == 0) {
        const size_t u = line.find("URI=\"");
        if (u != std::string::npos) {
          const size_t close = line.find('"', u + 5);
          if (close != std::string::npos)
            *map_uri = line.substr(u + 5, close - u - 5);
        }
      }
      if (line.rfind("#EXT-X-STREAM-INF:", 0) == 0)
        last_tag = line;
      continue;
    }
    out.emplace_back(last_tag, line);
    last_tag.clear();
  }
  return out;
}

/* A relative playlist URI that stays in the stream's folder: plain names. */
bool plain_relative(const std::string &uri)
{
  if (uri.empty() || uri[0] == '/' || uri.find("..") != std::string::npos ||
      uri.find(':') != std::string::npos || uri.find('?') != std::string::npos)
    return false;
  return true;
}

int width_of(const std::string &stream_inf)
{
  const size_t r = stream_inf.find("RESOLUTION=");
  if (r == std::string::npos)
    return 0;
  int w = 0;
  const char *begin = stream_inf.c_str() + r + 11;
  std::from_chars(begin, stream_inf.c_str() + stream_inf.size(), w);
  return w;
}

bool read_bounded(const std::string &path, std::string &out, std::string &error)
{
  g_autofree gchar *bytes = nullptr;
  gsize length = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path.c_str(), &bytes, &length, &err)) {
    error = err->message;
    return false;
  }
  if (length > kMaxSegmentBytes) {
    error = path + " is " + std::to_string(length) + " bytes, more than the " +
            std::to_string(kMaxSegmentBytes) + " a thumbnail reads";
    return false;
  }
  out.append(bytes, length);
  return true;
}

/* The newest segment (with its init section, for fMP4) of the rung nearest
 * kThumbnailWidth wide, as bytes to decode; "" with `error` otherwise. */
std::string newest_segment(const std::string &stream_dir, std::string &error)
{
  std::string master;
  if (!read_bounded(stream_dir + "/master.m3u8", master, error))
    return "";
  const auto variants = playlist_entries(master, nullptr);
  std::string chosen;
  int chosen_width = 0;
  for (const auto &[inf, uri] : variants) {
    if (!plain_relative(uri))
      continue;
    const int w = width_of(inf);
    const bool better = chosen.empty() ||
                        (w >= StatsService::kThumbnailWidth &&
                         (chosen_width < StatsService::kThumbnailWidth || w < chosen_width)) ||
                        (chosen_width < StatsService::kThumbnailWidth && w > chosen_width);
    if (better) {
      chosen = uri;
      chosen_width = w;
    }
  }
  if (chosen.empty()) {
    error = stream_dir + "/master.m3u8 lists no variant playlist";
    return "";
  }
  const std::string media_path = stream_dir + "/" + chosen;
  std::string media;
  if (!read_bounded(media_path, media, error))
    return "";
  std::string map_uri;
  const auto segments = playlist_entries(media, &map_uri);
  if (segments.empty() || !plain_relative(segments.back().second)) {
    error = media_path + " lists no segment yet";
    return "";
  }
  const std::string dir = media_path.substr(0, media_path.rfind('/'));
  std::string bytes;
  if (!map_uri.empty() &&
      (!plain_relative(map_uri) || !read_bounded(dir + "/" + map_uri, bytes, error)))
    return "";
  if (!read_bounded(dir + "/" + segments.back().second, bytes, error))
    return "";
  return bytes;
}

} // namespace

struct StatsService::Impl::Decode
{
  Impl *impl;
  std::string stream;
  GstElement *pipeline = nullptr;
  guint bus_watch = 0;
  guint timeout = 0;
  std::mutex lock;
  std::string jpeg; /* from the appsink's thread */
  bool done = false;
};

void StatsService::Impl::thumbnail(HttpRequest &r)
{
  const std::string id = r.params["id"];
  if (!live.count(id)) {
    respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_live",
                  "Stream \"" + id + "\" is not live on this server: no thumbnail");
    return;
  }
  Thumbnail &t = thumbnails[id];
  auto reply = std::make_shared<Deferred>(r.msg);
  const std::string method = r.method;
  auto answer = [reply, method, id](const std::string &jpeg, const std::string &error) {
    if (jpeg.empty()) {
      respond_error(reply->msg(), SOUP_STATUS_SERVICE_UNAVAILABLE, "no_thumbnail",
                    "No thumbnail of stream \"" + id + "\" yet: " + error);
      return;
    }
    soup_message_headers_replace(soup_server_message_get_response_headers(reply->msg()),
                                 "Cache-Control", "public, max-age=5");
    g_autoptr(GBytes) bytes = g_bytes_new(jpeg.data(), jpeg.size());
    respond_bytes(reply->msg(), method, "image/jpeg", bytes);
  };
  if (!t.jpeg.empty() && monotonic_ms() - t.made_at < StatsService::kThumbnailTtlMs) {
    answer(t.jpeg, "");
    return;
  }
  t.waiting.push_back(answer);
  if (t.decoding)
    return;
  t.decoding = true;
  thumbnail_queue.push_back(id);
  next_decode();
}

void StatsService::Impl::finish_thumbnail(const std::string &id, std::string jpeg,
                                          const std::string &error)
{
  Thumbnail &t = thumbnails[id];
  t.decoding = false;
  if (!jpeg.empty()) {
    t.jpeg = std::move(jpeg);
    t.made_at = monotonic_ms();
  } else {
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: no thumbnail: %s", id.c_str(), error.c_str());
  }
  auto waiting = std::move(t.waiting);
  t.waiting.clear();
  /* A failed decode answers with the previous picture when there is one. */
  for (auto &w : waiting)
    w(t.jpeg, error);
  if (!live.count(id) && t.waiting.empty())
    thumbnails.erase(id);
  decoder_busy = false;
  next_decode();
}

void StatsService::Impl::end_decode(Decode *d, const std::string &error)
{
  if (d->done)
    return;
  d->done = true;
  if (d->timeout)
    g_source_remove(d->timeout);
  if (d->bus_watch)
    g_source_remove(d->bus_watch);
  gst_element_set_state(d->pipeline, GST_STATE_NULL);
  gst_object_unref(d->pipeline);
  std::string jpeg;
  {
    std::lock_guard<std::mutex> hold(d->lock);
    jpeg = std::move(d->jpeg);
  }
  Impl *impl = d->impl;
  const std::string stream = d->stream;
  delete d;
  const std::string why = jpeg.empty() && error.empty() ? "no frame decoded" : error;
  impl->finish_thumbnail(stream, std::move(jpeg), why);
}

void StatsService::Impl::next_decode()
{
  if (decoder_busy || thumbnail_queue.empty())
    return;
  const std::string id = thumbnail_queue.front();
  thumbnail_queue.pop_front();
  std::string error;
  std::string bytes = newest_segment(config.hls.dir + "/" + id, error);
  if (bytes.empty()) {
    decoder_busy = true;
    finish_thumbnail(id, "", error);
    return;
  }
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(
      ("appsrc name=src ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=" +
       std::to_string(StatsService::kThumbnailWidth) +
       ",pixel-aspect-ratio=1/1 ! jpegenc quality=80 snapshot=true ! appsink name=sink "
       "sync=false max-buffers=1 emit-signals=true")
          .c_str(),
      &err);
  if (!pipeline) {
    decoder_busy = true;
    finish_thumbnail(id, "",
                     std::string("cannot build the thumbnail pipeline: ") +
                         (err ? err->message : "unknown"));
    return;
  }
  decoder_busy = true;
  auto *d = new Decode{this, id, pipeline};
  g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  auto *holder = new std::string(std::move(bytes));
  GstBuffer *buffer = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
      [](gpointer p) { delete static_cast<std::string *>(p); });
  g_object_set(src, "format", GST_FORMAT_BYTES, nullptr);
  gst_app_src_push_buffer(GST_APP_SRC(src), buffer);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  g_signal_connect(sink, "new-sample",
                   G_CALLBACK(SUGARCAST_GUARD(+[](GstElement *sink, gpointer p) -> GstFlowReturn {
                     auto *d = static_cast<Decode *>(p);
                     g_autoptr(GstSample) sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
                     GstBuffer *b = sample ? gst_sample_get_buffer(sample) : nullptr;
                     GstMapInfo map;
                     if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
                       std::lock_guard<std::mutex> hold(d->lock);
                       if (d->jpeg.empty())
                         d->jpeg.assign(reinterpret_cast<const char *>(map.data), map.size);
                       gst_buffer_unmap(b, &map);
                     }
                     /* One frame is all it takes: stop here. */
                     gst_element_post_message(
                         sink, gst_message_new_application(
                                   GST_OBJECT(sink), gst_structure_new_empty("thumbnail-done")));
                     return GST_FLOW_EOS;
                   })),
                   d);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  d->bus_watch = gst_bus_add_watch(
      bus, SUGARCAST_GUARD(+[](GstBus *, GstMessage *m, gpointer p) -> gboolean {
        auto *d = static_cast<Decode *>(p);
        switch (GST_MESSAGE_TYPE(m)) {
        case GST_MESSAGE_APPLICATION:
        case GST_MESSAGE_EOS:
          d->bus_watch = 0;
          end_decode(d, "");
          return G_SOURCE_REMOVE;
        case GST_MESSAGE_ERROR: {
          g_autoptr(GError) e = nullptr;
          gst_message_parse_error(m, &e, nullptr);
          d->bus_watch = 0;
          end_decode(d, std::string("decoding the newest segment: ") + (e ? e->message : "?"));
          return G_SOURCE_REMOVE;
        }
        default:
          return G_SOURCE_CONTINUE;
        }
      }),
      d);
  d->timeout = g_timeout_add(kThumbnailTimeoutMs, SUGARCAST_GUARD(+[](gpointer p) -> gboolean {
                               auto *d = static_cast<Decode *>(p);
                               d->timeout = 0;
                               end_decode(d, "decoding took longer than 5 s");
                               return G_SOURCE_REMOVE;
                             }),
                             d);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    end_decode(d, "the thumbnail pipeline would not start");
}

} // namespace sugarcast
