/* Sugarcast — deleting old recordings by age and total size. */
#include "retention.h"

#include "manifest.h"

#include <glib.h>

#include <algorithm>

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
  std::vector<std::string> out, names;
  std::string unreadable; /* a folder that cannot be read holds no recording */
  if (!folder_names(root, names, unreadable))
    return out;
  for (const auto &name : names) {
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
  std::vector<std::string> names, ours;
  if (!folder_names(folder, names, error))
    return false;
  for (const auto &n : names) {
    if (!segment_index(n) && n != kManifestName && n != kPlaylistName) {
      error = folder + " holds " + n + ", which is not part of a recording; left alone";
      return false;
    }
    ours.push_back(n);
  }
  /* The manifest last: an interrupted removal still looks like a recording. */
  std::sort(ours.begin(), ours.end(), [](const std::string &a, const std::string &b) {
    return (a == kManifestName) < (b == kManifestName) ||
           ((a == kManifestName) == (b == kManifestName) && a < b);
  });
  for (const auto &n : ours)
    if (!remove_path(folder + "/" + n, error))
      return false;
  return remove_path(folder, error);
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
