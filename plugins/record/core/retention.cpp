/* Sugarcast — deleting old recordings by age and total size. */
#include "retention.h"

#include "manifest.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sugarcast::record {

namespace {

void add_if_recording(const std::string &folder, std::vector<RecordingInfo> &out)
{
  const std::string path = folder + "/" + kManifestName;
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR))
    return;
  std::string error;
  auto m = read_manifest(path, error);
  if (!m)
    return; /* not ours to judge: leave it */
  out.push_back({folder, m->started_us, m->bytes(), state_name(m->state)});
}

std::vector<std::string> subfolders(const std::string &root)
{
  std::vector<std::string> out;
  g_autoptr(GDir) dir = g_dir_open(root.c_str(), 0, nullptr);
  if (!dir)
    return out;
  while (const gchar *name = g_dir_read_name(dir)) {
    const std::string path = root + "/" + name;
    if (g_file_test(path.c_str(), G_FILE_TEST_IS_DIR) &&
        !g_file_test(path.c_str(), G_FILE_TEST_IS_SYMLINK))
      out.push_back(path);
  }
  return out;
}

} // namespace

std::vector<RecordingInfo> list_recordings(const std::string &root)
{
  std::vector<RecordingInfo> out;
  for (const auto &sub : subfolders(root)) {
    const size_t before = out.size();
    add_if_recording(sub, out);
    if (out.size() == before)
      for (const auto &sub2 : subfolders(sub))
        add_if_recording(sub2, out);
  }
  std::sort(out.begin(), out.end(), [](const RecordingInfo &a, const RecordingInfo &b) {
    return a.started_us != b.started_us ? a.started_us < b.started_us : a.folder < b.folder;
  });
  return out;
}

bool remove_recording(const std::string &folder, std::string &error)
{
  std::vector<std::string> ours;
  {
    g_autoptr(GError) err = nullptr;
    g_autoptr(GDir) dir = g_dir_open(folder.c_str(), 0, &err);
    if (!dir) {
      error = err->message;
      return false;
    }
    while (const gchar *name = g_dir_read_name(dir)) {
      const std::string n = name;
      if (segment_index(n) || n == kManifestName || n == kPlaylistName) {
        ours.push_back(n);
      } else {
        error = folder + " holds " + n + ", which is not part of a recording; left alone";
        return false;
      }
    }
  }
  /* The manifest last: an interrupted removal still looks like a recording. */
  std::sort(ours.begin(), ours.end(), [](const std::string &a, const std::string &b) {
    return (a == kManifestName) < (b == kManifestName) ||
           ((a == kManifestName) == (b == kManifestName) && a < b);
  });
  for (const auto &n : ours) {
    const std::string path = folder + "/" + n;
    if (g_unlink(path.c_str()) != 0) {
      error = "could not remove " + path + ": " + std::strerror(errno);
      return false;
    }
  }
  if (g_rmdir(folder.c_str()) != 0) {
    error = "could not remove " + folder + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::vector<std::string> apply_retention(const std::string &root, const RetentionPolicy &policy,
                                         int64_t now_us, std::vector<std::string> &errors)
{
  std::vector<std::string> removed;
  auto recordings = list_recordings(root);
  uint64_t total = 0;
  for (const auto &r : recordings)
    total += r.bytes;
  for (const auto &r : recordings) {
    if (r.state == "recording")
      continue;
    const bool too_old = policy.max_age_us > 0 && now_us - r.started_us > policy.max_age_us;
    const bool too_big = policy.max_bytes > 0 && total > policy.max_bytes;
    if (!too_old && !too_big)
      continue;
    std::string error;
    if (remove_recording(r.folder, error)) {
      removed.push_back(r.folder);
      total -= r.bytes;
    } else {
      errors.push_back(error);
    }
  }
  return removed;
}

} // namespace sugarcast::record
