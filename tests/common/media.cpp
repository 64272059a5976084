/* Sugarcast test support: media files made with ffmpeg, cached. */
#include "media.h"

#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

namespace sugarcast::test {

namespace {

const char *muxer_for(const std::string &container)
{
  if (container == "mp4")
    return "mp4";
  if (container == "mov")
    return "mov";
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
  if (spec.rotation)
    name += "_rot" + std::to_string(spec.rotation);
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
  else if (spec.video == "hevc") /* as iPhones write it: hvc1 in MOV */
    argv.insert(argv.end(), {"-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                             "log-level=error", "-pix_fmt", "yuv420p", "-tag:v", "hvc1"});
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
  if (spec.rotation && !set_display_rotation(partial, spec.rotation)) {
    std::filesystem::remove(partial);
    return {};
  }
  std::filesystem::rename(partial, path);
  return path;
}

namespace {

uint32_t be32(const std::string &b, size_t at)
{
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

void put_be32(std::string &b, size_t at, uint32_t v)
{
  for (int i = 0; i < 4; ++i)
    b[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

/* Boxes directly inside [begin, end): (type, payload start, box end). */
std::vector<std::tuple<std::string, size_t, size_t>> boxes(const std::string &b, size_t begin,
                                                           size_t end)
{
  std::vector<std::tuple<std::string, size_t, size_t>> out;
  for (size_t at = begin; at + 8 <= end;) {
    uint64_t size = be32(b, at);
    size_t header = 8;
    if (size == 1 && at + 16 <= end) {
      size = (uint64_t(be32(b, at + 8)) << 32) | be32(b, at + 12);
      header = 16;
    } else if (size == 0) {
      size = end - at;
    }
    if (size < header || at + size > end)
      break;
    out.emplace_back(b.substr(at + 4, 4), at + header, at + size);
    at += size;
  }
  return out;
}

} // namespace

bool set_display_rotation(const std::string &path, int clockwise)
{
  std::string b = read_file(path);
  /* a, b, u, c, d, v, x, y, w in 16.16 (u, v, w 2.30), ISO/IEC 14496-12 8.3.2 */
  const int32_t one = 0x10000;
  int32_t m[9] = {one, 0, 0, 0, one, 0, 0, 0, 0x40000000};
  if (clockwise == 90) {
    m[0] = 0, m[1] = one, m[3] = -one, m[4] = 0;
  } else if (clockwise == 180) {
    m[0] = -one, m[4] = -one;
  } else if (clockwise == 270) {
    m[0] = 0, m[1] = -one, m[3] = one, m[4] = 0;
  }
  for (const auto &[type, begin, end] : boxes(b, 0, b.size())) {
    if (type != "moov")
      continue;
    for (const auto &[ttype, tbegin, tend] : boxes(b, begin, end)) {
      if (ttype != "trak")
        continue;
      size_t tkhd = 0;
      bool video = false;
      for (const auto &[ktype, kbegin, kend] : boxes(b, tbegin, tend)) {
        if (ktype == "tkhd")
          tkhd = kbegin;
        if (ktype == "mdia")
          for (const auto &[mtype, mbegin, mend] : boxes(b, kbegin, kend))
            if (mtype == "hdlr" && mend - mbegin >= 12 && b.compare(mbegin + 8, 4, "vide") == 0)
              video = true;
      }
      if (!video || !tkhd)
        continue;
      /* version 0: 4+4+4+4+4 bytes of times/id/duration, version 1: 8+8+4+4+8 */
      const size_t matrix = tkhd + 4 + (b[tkhd] == 1 ? 32 : 20) + 8 + 8;
      for (int i = 0; i < 9; ++i)
        put_be32(b, matrix + 4 * i, static_cast<uint32_t>(m[i]));
      std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
      return true;
    }
  }
  ADD_FAILURE() << path << ": no video track header (tkhd) found";
  return false;
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

std::string decode_rgb_frame(const std::string &file, int index, int width, int height)
{
  ProcessResult count = run_process({"ffprobe", "-v", "error", "-count_frames", "-select_streams",
                                     "v:0", "-show_entries", "stream=nb_read_frames", "-of",
                                     "default=noprint_wrappers=1:nokey=1", file});
  const int frames = std::atoi(count.out.c_str());
  EXPECT_GT(frames, 0) << file << ": " << count.err;
  index = std::max(0, std::min(index, frames - 1));
  const std::string out = file + ".frame" + std::to_string(index) + ".rgb";
  ProcessResult r =
      run_process({"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", file,
                   "-vf", "select=gte(n\\," + std::to_string(index) + ")", "-vsync", "0",
                   "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", out});
  EXPECT_TRUE(r.ok()) << file << ": " << r.err;
  std::string frame = read_file(out);
  EXPECT_EQ(frame.size(), static_cast<size_t>(width) * height * 3)
      << file << " frame " << index << " of " << frames;
  return frame;
}

Rect gift_banner_centre(int width, int height)
{
  const int h = static_cast<int>(std::lround(height * 0.085));
  const int x = static_cast<int>(std::lround(width * 0.02));
  const int bottom = height - static_cast<int>(std::lround(height * 0.16));
  return {x + h * 3 / 10, bottom - h * 7 / 10, x + h * 7 / 10, bottom - h * 3 / 10};
}

double mean_difference(const std::string &a, const std::string &b, int width, int height, Rect r)
{
  if (a.size() != b.size() || a.size() < static_cast<size_t>(width) * height * 3)
    return -1;
  double sum = 0;
  long n = 0;
  for (int y = r.y0; y < r.y1; ++y)
    for (int x = r.x0; x < r.x1; ++x)
      for (int c = 0; c < 3; ++c, ++n) {
        const size_t at = (static_cast<size_t>(y) * width + x) * 3 + c;
        sum += std::abs(static_cast<int>(static_cast<unsigned char>(a[at])) -
                        static_cast<int>(static_cast<unsigned char>(b[at])));
      }
  return n ? sum / n : -1;
}

} // namespace sugarcast::test
