/* Sugarcast — fragmented MP4 writer. See fmp4.h. */
#include "fmp4.h"

#include <algorithm>
#include <string>

namespace sugarcast::abr {

namespace {

/* Writes a box header and patches its size when it goes out of scope. */
class Box
{
public:
  Box(ByteWriter &w, const char *type) : w_(w), start_(w.size())
  {
    w_.u32(0);
    w_.fourcc(type);
  }
  Box(ByteWriter &w, const char *type, uint8_t version, uint32_t flags) : Box(w, type)
  {
    w_.u8(version);
    w_.u24(flags);
  }
  ~Box() { w_.patch_u32(start_, static_cast<uint32_t>(w_.size() - start_)); }
  Box(const Box &) = delete;
  Box &operator=(const Box &) = delete;

private:
  ByteWriter &w_;
  size_t start_;
};

void unity_matrix(ByteWriter &w)
{
  const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (uint32_t v : m)
    w.u32(v);
}

void descriptor(ByteWriter &w, uint8_t tag, const Bytes &body)
{
  w.u8(tag);
  /* The 4-byte length form every reader accepts. */
  const uint32_t n = static_cast<uint32_t>(body.size());
  w.u8(0x80 | ((n >> 21) & 0x7f));
  w.u8(0x80 | ((n >> 14) & 0x7f));
  w.u8(0x80 | ((n >> 7) & 0x7f));
  w.u8(n & 0x7f);
  w.bytes(body);
}

void esds(ByteWriter &w, const Mp4Track &t)
{
  Box box(w, "esds", 0, 0);
  Bytes dsi = t.aac.asc;
  Bytes dcd;
  {
    ByteWriter d(dcd);
    d.u8(0x40); /* MPEG-4 audio */
    d.u8(0x15); /* audio stream */
    d.u24(0);   /* buffer size */
    d.u32(t.bitrate);
    d.u32(t.bitrate);
    descriptor(d, 0x05, dsi);
  }
  Bytes es;
  {
    ByteWriter e(es);
    e.u16(0); /* ES_ID */
    e.u8(0);
    descriptor(e, 0x04, dcd);
    descriptor(e, 0x06, Bytes{0x02});
  }
  descriptor(w, 0x03, es);
}

void vpcc(ByteWriter &w, const Mp4Track &t)
{
  Box box(w, "vpcC", 1, 0);
  const Vp9Info &v = t.vp9;
  uint8_t primaries = 2, transfer = 2, matrix = 2; /* unspecified */
  switch (v.color_space) {
  case 1: /* BT.601 */
  case 3: /* SMPTE 170 */
    primaries = 6, transfer = 6, matrix = 6;
    break;
  case 2: /* BT.709 */
    primaries = 1, transfer = 1, matrix = 1;
    break;
  case 4:
    primaries = 7, transfer = 7, matrix = 7;
    break;
  case 5:
    primaries = 9, transfer = 14, matrix = 9;
    break;
  case 7: /* sRGB */
    primaries = 1, transfer = 13, matrix = 0;
    break;
  default:
    break;
  }
  w.u8(static_cast<uint32_t>(v.profile));
  w.u8(static_cast<uint32_t>(vp9_level(t.width, t.height, 30.0)));
  w.u8(static_cast<uint32_t>((v.bit_depth << 4) | (v.chroma_subsampling << 1) |
                             (v.full_range ? 1 : 0)));
  w.u8(primaries);
  w.u8(transfer);
  w.u8(matrix);
  w.u16(0);
}

void dops(ByteWriter &w, const Mp4Track &t)
{
  Box box(w, "dOps");
  const OpusConfig &o = t.opus;
  w.u8(0);
  w.u8(static_cast<uint32_t>(o.channels));
  w.u16(static_cast<uint32_t>(o.pre_skip));
  w.u32(static_cast<uint32_t>(o.input_rate));
  w.u16(static_cast<uint16_t>(o.output_gain));
  w.u8(static_cast<uint32_t>(o.mapping_family));
  if (o.mapping_family != 0)
    w.bytes(o.mapping);
}

void sample_entry(ByteWriter &w, const Mp4Track &t)
{
  if (t.video()) {
    Box box(w, t.codec == Mp4Codec::H264 ? "avc1" : "vp09");
    w.zeros(6);
    w.u16(1); /* data reference index */
    w.zeros(16);
    w.u16(static_cast<uint32_t>(t.width));
    w.u16(static_cast<uint32_t>(t.height));
    w.u32(0x00480000); /* 72 dpi */
    w.u32(0x00480000);
    w.u32(0);
    w.u16(1);    /* frame count */
    w.zeros(32); /* compressor name */
    w.u16(0x18);
    w.u16(0xffff);
    if (t.codec == Mp4Codec::H264) {
      Box avcc(w, "avcC");
      w.bytes(t.avcc);
    } else {
      vpcc(w, t);
    }
    return;
  }
  Box box(w, t.codec == Mp4Codec::AAC ? "mp4a" : "Opus");
  w.zeros(6);
  w.u16(1);
  w.zeros(8);
  w.u16(static_cast<uint32_t>(t.channels));
  w.u16(16);
  w.u16(0);
  w.u16(0);
  w.u32(static_cast<uint32_t>(t.sample_rate) << 16);
  if (t.codec == Mp4Codec::AAC)
    esds(w, t);
  else
    dops(w, t);
}

void trak(ByteWriter &w, const Mp4Track &t)
{
  Box trak(w, "trak");
  {
    Box tkhd(w, "tkhd", 0, 3); /* enabled, in movie */
    w.u32(0);
    w.u32(0);
    w.u32(t.id);
    w.u32(0);
    w.u32(0); /* duration: fragments say */
    w.zeros(8);
    w.u16(0);                      /* layer */
    w.u16(t.video() ? 0 : 1);      /* alternate group */
    w.u16(t.video() ? 0 : 0x0100); /* volume */
    w.u16(0);
    unity_matrix(w);
    w.u32(static_cast<uint32_t>(t.width) << 16);
    w.u32(static_cast<uint32_t>(t.height) << 16);
  }
  Box mdia(w, "mdia");
  {
    Box mdhd(w, "mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(t.timescale);
    w.u32(0);
    w.u16(0x55c4); /* "und" */
    w.u16(0);
  }
  {
    Box hdlr(w, "hdlr", 0, 0);
    w.u32(0);
    w.fourcc(t.video() ? "vide" : "soun");
    w.zeros(12);
    const char *name = t.video() ? "Sugarcast video" : "Sugarcast audio";
    w.bytes(reinterpret_cast<const uint8_t *>(name), std::char_traits<char>::length(name) + 1);
  }
  Box minf(w, "minf");
  if (t.video()) {
    Box vmhd(w, "vmhd", 0, 1);
    w.zeros(8);
  } else {
    Box smhd(w, "smhd", 0, 0);
    w.zeros(4);
  }
  {
    Box dinf(w, "dinf");
    Box dref(w, "dref", 0, 0);
    w.u32(1);
    Box url(w, "url ", 0, 1); /* media in this file */
  }
  Box stbl(w, "stbl");
  {
    Box stsd(w, "stsd", 0, 0);
    w.u32(1);
    sample_entry(w, t);
  }
  for (const char *empty : {"stts", "stsc", "stco"}) {
    Box b(w, empty, 0, 0);
    w.u32(0);
  }
  {
    Box stsz(w, "stsz", 0, 0);
    w.u32(0);
    w.u32(0);
  }
}

} // namespace

Bytes mp4_init_segment(const std::vector<Mp4Track> &tracks)
{
  Bytes out;
  ByteWriter w(out);
  {
    Box ftyp(w, "ftyp");
    w.fourcc("iso6");
    w.u32(0);
    for (const char *brand : {"iso6", "isom", "mp41", "dash"})
      w.fourcc(brand);
  }
  Box moov(w, "moov");
  {
    Box mvhd(w, "mvhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(1000);
    w.u32(0);
    w.u32(0x00010000); /* rate */
    w.u16(0x0100);     /* volume */
    w.zeros(10);
    unity_matrix(w);
    w.zeros(24);
    uint32_t next = 1;
    for (const auto &t : tracks)
      next = std::max(next, t.id + 1);
    w.u32(next);
  }
  for (const auto &t : tracks)
    trak(w, t);
  Box mvex(w, "mvex");
  for (const auto &t : tracks) {
    Box trex(w, "trex", 0, 0);
    w.u32(t.id);
    w.u32(1);
    w.u32(0);
    w.u32(0);
    w.u32(0);
  }
  return out;
}

Bytes mp4_media_segment(uint32_t sequence, const std::vector<Mp4Run> &runs)
{
  Bytes out;
  ByteWriter w(out);
  std::vector<size_t> offset_fields;
  {
    Box moof(w, "moof");
    {
      Box mfhd(w, "mfhd", 0, 0);
      w.u32(sequence);
    }
    for (const auto &run : runs) {
      if (run.samples.empty())
        continue;
      Box traf(w, "traf");
      {
        Box tfhd(w, "tfhd", 0, 0x020000); /* default-base-is-moof */
        w.u32(run.track->id);
      }
      {
        Box tfdt(w, "tfdt", 1, 0);
        w.u64(run.base_decode_time);
      }
      Box trun(w, "trun", 1, 0x000f01);
      w.u32(static_cast<uint32_t>(run.samples.size()));
      offset_fields.push_back(w.size());
      w.u32(0); /* data offset, patched below */
      for (const auto &s : run.samples) {
        w.u32(s.duration);
        w.u32(static_cast<uint32_t>(s.data->size()));
        w.u32(s.keyframe ? 0x02000000 : 0x01010000);
        w.u32(static_cast<uint32_t>(s.cts_offset));
      }
    }
  }
  const size_t moof_size = out.size();
  size_t mdat_payload = 0;
  for (const auto &run : runs)
    for (const auto &s : run.samples)
      mdat_payload += s.data->size();
  w.u32(static_cast<uint32_t>(8 + mdat_payload));
  w.fourcc("mdat");
  size_t field = 0;
  size_t offset = moof_size + 8;
  out.reserve(out.size() + mdat_payload);
  for (const auto &run : runs) {
    if (run.samples.empty())
      continue;
    w.patch_u32(offset_fields[field++], static_cast<uint32_t>(offset));
    for (const auto &s : run.samples) {
      w.bytes(*s.data);
      offset += s.data->size();
    }
  }
  return out;
}

} // namespace sugarcast::abr
