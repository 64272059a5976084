/* Sugarcast — recordings written by the record core's Writer from made-up
 * samples (no encoder): what the record suite's plain C++ tests read. */
#pragma once

#include "writer.h"

#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sugarcast::test::fake {

inline constexpr int64_t kFrame = 33333333; /* 30 fps */

/* A fresh folder NAME in the test's scratch folder. */
inline std::string fresh(const std::string &name)
{
  const std::string dir = scratch_dir() + "/" + name;
  g_mkdir_with_parents(dir.c_str(), 0755);
  return dir;
}

/* An access unit the TS writer carries as it is: SPS, PPS and an IDR slice,
 * or one non-IDR slice, padded to SIZE bytes. The SPS's body is SPS_SIZE
 * bytes of SPS_FILL. */
inline std::vector<uint8_t> fake_au(bool keyframe, size_t size, uint8_t sps_fill = 0x5a,
                                    size_t sps_size = 8)
{
  std::vector<uint8_t> au;
  auto nal = [&](uint8_t header, size_t body, uint8_t fill) {
    au.insert(au.end(), {0, 0, 0, 1, header});
    au.insert(au.end(), body, fill);
  };
  if (keyframe) {
    nal(0x67, sps_size, sps_fill);
    nal(0x68, 3, 0x5a);
    nal(0x65, size, 0x5a);
  } else {
    nal(0x41, size, 0x5a);
  }
  return au;
}

inline std::vector<uint8_t> fake_adts()
{
  /* AAC LC, 48 kHz, stereo, 100-byte frame. */
  std::vector<uint8_t> f = {0xff, 0xf1, 0x4c, 0x80, 0x0c, 0x9f, 0xfc};
  f.resize(100, 0x21);
  return f;
}

/* SECONDS of 30 fps video with a keyframe every second and 48 kHz AAC,
 * written by a Writer into FOLDER; AU, if given, makes frame N's access unit
 * (else fake_au); each frame decodes REORDER ns before it shows (B-frames).
 * Returns the writer (not finished). */
inline std::unique_ptr<record::Writer>
write_media(const std::string &folder, double seconds, record::WriterSettings settings = {},
            const std::function<std::vector<uint8_t>(int)> &au = nullptr, int64_t reorder = 0)
{
  settings.folder = folder;
  auto w = std::make_unique<record::Writer>(settings, record::Writer::Hooks{});
  std::string error;
  EXPECT_TRUE(w->open(1700000000000000, error)) << error;
  const int frames = static_cast<int>(seconds * 30);
  const int64_t aac = 1024 * 1000000000LL / 48000;
  int64_t next_audio = 0;
  const auto adts = fake_adts();
  for (int i = 0; i < frames; ++i) {
    const int64_t t = 1000000000000LL + i * kFrame; /* any clock: the writer rebases */
    const bool keyframe = i % 30 == 0;
    const auto unit = au ? au(i) : fake_au(keyframe, keyframe ? 3000 : 600);
    w->video(unit.data(), unit.size(), t, t - reorder, kFrame, keyframe);
    while (next_audio < (i + 1) * kFrame) {
      w->audio(adts.data(), adts.size(), 1000000000000LL + next_audio, aac);
      next_audio += aac;
    }
  }
  return w;
}

} // namespace sugarcast::test::fake
