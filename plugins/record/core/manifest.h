/* Sugarcast — a recording's manifest and VOD playlist, independent of
 * GStreamer (GLib and json-glib only).
 *
 * One recording is one folder: MPEG-TS segments seg00000.ts, seg00001.ts, ...,
 * manifest.json (what is there, read by tools, the daemon and replaysrc) and
 * index.m3u8 (a VOD playlist of the same segments for HLS players). Both
 * files are replaced atomically (g_file_set_contents_full with
 * G_FILE_SET_CONTENTS_CONSISTENT): a reader sees the old or the new one,
 * never half of one.
 */
#pragma once

#include "playlist.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::record {

/* recording: being written (or the writer died: repair makes it interrupted);
 * complete: stopped and finalised; incomplete: finalised, but media was lost
 * (the disk was too slow or failed); interrupted: repaired after a crash. */
enum class State { Recording, Complete, Incomplete, Interrupted };

const char *state_name(State state);
std::optional<State> parse_state(const std::string &name);

struct Keyframe
{
  int64_t time = 0;    /* nanoseconds from the recording's start */
  uint64_t offset = 0; /* byte offset of its first TS packet in the segment */
};

struct Segment
{
  std::string uri;      /* file name inside the recording folder */
  int64_t start = 0;    /* nanoseconds from the recording's start */
  int64_t duration = 0; /* nanoseconds */
  uint64_t bytes = 0;
  std::vector<Keyframe> keyframes;
};

struct Manifest
{
  int version = 1;
  State state = State::Recording;
  int64_t started_us = 0; /* wall clock of the first frame, microseconds since the epoch */
  int64_t ended_us = 0;   /* wall clock when finalised; 0 while recording */
  bool video = true;
  bool audio = true;
  int64_t segment_target = 4000000000; /* nanoseconds */
  std::string reason;                  /* why incomplete or interrupted */
  std::vector<Segment> segments;
  /* Timed metadata (a gift shown during the show): EXT-X-DATERANGE in the
   * playlist, before the segment whose wall-clock span holds its start. */
  std::vector<abr::DateRangeTag> dateranges;

  int64_t duration() const; /* nanoseconds: end of the last segment */
  uint64_t bytes() const;
};

std::string to_json(const Manifest &manifest);
/* nullopt with `error` naming what was wrong. */
std::optional<Manifest> parse_manifest(const std::string &text, std::string &error);
std::optional<Manifest> read_manifest(const std::string &path, std::string &error);

/* The HLS playlist of the segments: EVENT while recording, VOD with
 * EXT-X-ENDLIST once finalised. */
std::string render_playlist(const Manifest &manifest);

/* Writes TEXT to PATH atomically; `durable` also fsyncs it (and so survives a
 * power cut once this returns). false with `error` set. */
bool write_atomically(const std::string &path, const std::string &text, bool durable,
                      std::string &error);

/* Writes manifest.json and index.m3u8 into FOLDER. */
bool write_manifest_files(const std::string &folder, const Manifest &manifest, bool durable,
                          std::string &error);

inline constexpr const char *kManifestName = "manifest.json";
inline constexpr const char *kPlaylistName = "index.m3u8";

/* "seg00042.ts" */
std::string segment_name(unsigned index);
/* 42 for "seg00042.ts"; nullopt for any other name. */
std::optional<unsigned> segment_index(const std::string &name);

/* The names of the entries in FOLDER (a recording's, or a stream's folder of
 * recordings); false with ERROR when it cannot be read. */
bool folder_names(const std::string &folder, std::vector<std::string> &names, std::string &error);
/* Removes the file or empty folder PATH; false with an ERROR naming it. */
bool remove_path(const std::string &path, std::string &error);

} // namespace sugarcast::record
