/* Sugarcast test support: media files made with ffmpeg, cached. */
#include "media.h"

#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

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

MediaProbe probe_media(const std::string &path_or_url, bool count_frames)
{
  MediaProbe p;
  std::vector<std::string> argv = {"ffprobe",
                                   "-v",
                                   "error",
                                   "-show_entries",
                                   "stream=codec_type,codec_name,width,height,avg_frame_rate,r_"
                                   "frame_rate,nb_read_frames,pix_fmt:"
                                   "stream_side_data=rotation:format=duration",
                                   "-of",
                                   "flat"};
  if (count_frames)
    argv.push_back("-count_frames");
  argv.push_back(path_or_url);
  ProcessResult r = run_process(argv, std::chrono::seconds(120));
  if (!r.ok()) {
    p.error = r.err;
    return p;
  }
  /* flat output: streams.stream.0.codec_name="h264" */
  std::map<std::string, std::string> kv;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"')
      value = value.substr(1, value.size() - 2);
    kv[line.substr(0, eq)] = value;
  }
  auto ratio = [](const std::string &s) {
    int n = 0, d = 0;
    return std::sscanf(s.c_str(), "%d/%d", &n, &d) == 2 && d ? static_cast<double>(n) / d : 0.0;
  };
  for (int i = 0; kv.count("streams.stream." + std::to_string(i) + ".codec_type"); ++i) {
    const std::string k = "streams.stream." + std::to_string(i) + ".";
    if (kv[k + "codec_type"] == "video" && p.video_codec.empty()) {
      p.video_codec = kv[k + "codec_name"];
      p.width = std::atoi(kv[k + "width"].c_str());
      p.height = std::atoi(kv[k + "height"].c_str());
      p.fps = ratio(kv[k + "avg_frame_rate"]);
      p.r_frame_rate = kv[k + "r_frame_rate"];
      p.frames = std::atoi(kv[k + "nb_read_frames"].c_str());
      p.pix_fmt = kv[k + "pix_fmt"];
      for (const auto &[key, value] : kv)
        if (key.rfind(k + "side_data_list.", 0) == 0 && key.size() > 9 &&
            key.compare(key.size() - 9, 9, ".rotation") == 0)
          p.rotation = std::atoi(value.c_str());
    } else if (kv[k + "codec_type"] == "audio" && p.audio_codec.empty()) {
      p.audio_codec = kv[k + "codec_name"];
    }
  }
  p.duration = std::atof(kv["format.duration"].c_str());
  p.ok = true;
  return p;
}

} // namespace sugarcast::test
