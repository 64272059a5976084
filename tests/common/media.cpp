/* Sugarcast test support: media files made with ffmpeg, cached. */
#include "media.h"

#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace sugarcast::test {

namespace {

const char *muxer_for(const std::string &container)
{
  if (container == "mp4")
    return "mp4";
  if (container == "webm")
    return "webm";
  if (container == "mkv")
    return "matroska";
  if (container == "ts")
    return "mpegts";
  if (container == "flv")
    return "flv";
  return nullptr;
}

std::string cache_name(const ClipSpec &spec)
{
  char head[160];
  std::snprintf(head, sizeof head, "%s_%dx%d_%dfps_%.3fs_%s",
                spec.video.empty() ? "novideo" : spec.video.c_str(), spec.width, spec.height,
                spec.fps, spec.seconds, spec.audio ? "audio" : "silent");
  std::string name = head;
  if (!spec.extra.empty()) {
    std::string joined;
    for (const auto &e : spec.extra)
      joined += e + '\n';
    g_autofree gchar *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA1, joined.c_str(), -1);
    name += std::string("_") + std::string(digest).substr(0, 10);
  }
  return name + "." + spec.container;
}

} // namespace

std::string media_dir()
{
  const char *dir = g_getenv("SUGARCAST_TEST_MEDIA_DIR");
  std::string path = dir ? dir : build_dir() + "/tests/media";
  std::filesystem::create_directories(path);
  return path;
}

std::string make_clip(const ClipSpec &spec)
{
  const char *muxer = muxer_for(spec.container);
  if (!muxer) {
    ADD_FAILURE() << "make_clip: unknown container '" << spec.container << "'";
    return {};
  }
  const std::string path = media_dir() + "/" + cache_name(spec);
  if (std::filesystem::exists(path))
    return path;

  const std::string seconds = std::to_string(spec.seconds);
  std::vector<std::string> argv = {"ffmpeg", "-hide_banner", "-loglevel",
                                   "error",  "-nostdin",     "-y"};
  if (!spec.video.empty()) {
    argv.insert(argv.end(),
                {"-f", "lavfi", "-i",
                 "testsrc2=size=" + std::to_string(spec.width) + "x" + std::to_string(spec.height) +
                     ":rate=" + std::to_string(spec.fps) + ":duration=" + seconds});
  }
  if (spec.audio) {
    argv.insert(argv.end(),
                {"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + seconds});
  }
  const bool webm_family = spec.container == "webm" || spec.container == "mkv";
  if (spec.video == "h264")
    argv.insert(argv.end(), {"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"});
  else if (spec.video == "vp9")
    argv.insert(argv.end(),
                {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"});
  else if (spec.video == "mpeg2")
    argv.insert(argv.end(), {"-c:v", "mpeg2video"});
  else if (!spec.video.empty())
    argv.insert(argv.end(), {"-c:v", spec.video});
  if (spec.audio)
    argv.insert(argv.end(), {"-c:a", webm_family ? "libopus" : "aac"});
  argv.insert(argv.end(), spec.extra.begin(), spec.extra.end());
  /* Write beside the cache and rename: parallel tests never see half a file. */
  const std::string partial = path + ".partial-" + std::to_string(getpid());
  argv.insert(argv.end(), {"-t", seconds, "-f", muxer, partial});

  ProcessResult r = run_process(argv, std::chrono::seconds(300));
  if (!r.ok()) {
    std::filesystem::remove(partial);
    ADD_FAILURE() << "ffmpeg could not make " << path << ": " << r.err;
    return {};
  }
  std::filesystem::rename(partial, path);
  return path;
}

} // namespace sugarcast::test
