/* Sugarcast — deleting old recordings by age and total size, independent of
 * GStreamer.
 *
 * A recording is a folder holding manifest.json, found directly under ROOT
 * (one stream's recordings) or one level deeper (ROOT/STREAM/RECORDING: every
 * stream's). Oldest first, by the manifest's start time: recordings older
 * than `max_age` go, then more until the total is at most `max_bytes`. A
 * recording still in state "recording" is never deleted (it may be the one
 * being written), nor a folder holding files a recording does not make.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::record {

struct RecordingInfo
{
  std::string folder;
  int64_t started_us = 0;
  uint64_t bytes = 0;
  std::string state;
};

/* Every recording under ROOT (depth 1 and 2), oldest first. */
std::vector<RecordingInfo> list_recordings(const std::string &root);

struct RetentionPolicy
{
  int64_t max_age_us = 0; /* 0 = no age limit */
  uint64_t max_bytes = 0; /* 0 = no size limit */
};

/* Deletes what POLICY says must go; returns the folders removed. Failures to
 * remove one are put in `errors` and the rest goes on. */
std::vector<std::string> apply_retention(const std::string &root, const RetentionPolicy &policy,
                                         int64_t now_us, std::vector<std::string> &errors);

/* Removes one recording folder (its segments, manifest and playlist, then the
 * folder); false with `error` if it holds anything else. */
bool remove_recording(const std::string &folder, std::string &error);

} // namespace sugarcast::record
