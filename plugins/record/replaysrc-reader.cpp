/* Sugarcast — replaysrc's byte reader (SugarcastReplayReader, not a
 * registered factory): the chunks of a range (range.h), across segment
 * files, as one seekable MPEG-TS stream for tsdemux. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "replaysrc-private.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

using namespace sugarcast::record;

G_DEFINE_TYPE(SugarcastReplayReader, sugarcast_replay_reader, GST_TYPE_BASE_SRC)

static GstStaticPadTemplate reader_src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true, "
                                            "packetsize=(int)188"));

static gboolean reader_get_size(GstBaseSrc *src, guint64 *size)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  std::lock_guard lk(self->priv->lock);
  *size = self->priv->size;
  return TRUE;
}

static gboolean reader_is_seekable(GstBaseSrc *)
{
  return TRUE;
}

static gboolean reader_stop(GstBaseSrc *src)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  std::lock_guard lk(self->priv->lock);
  if (self->priv->fd >= 0)
    close(self->priv->fd);
  self->priv->fd = -1;
  self->priv->fd_chunk = SIZE_MAX;
  return TRUE;
}

static GstFlowReturn reader_fill(GstBaseSrc *src, guint64 offset, guint length, GstBuffer *buf)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  ReaderPrivate *p = self->priv;
  std::lock_guard lk(p->lock);
  if (offset >= p->size)
    return GST_FLOW_EOS;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_WRITE))
    return GST_FLOW_ERROR;
  size_t done = 0;
  const size_t want = std::min<uint64_t>(length, p->size - offset);
  while (done < want) {
    const uint64_t pos = offset + done;
    size_t c = 0;
    while (c + 1 < p->chunks.size() && p->chunks[c + 1].at <= pos)
      ++c;
    const Chunk &chunk = p->chunks[c];
    if (p->fd_chunk != c) {
      if (p->fd >= 0)
        close(p->fd);
      p->fd = open(chunk.path.c_str(), O_RDONLY | O_CLOEXEC);
      p->fd_chunk = p->fd >= 0 ? c : SIZE_MAX;
      if (p->fd < 0) {
        gst_buffer_unmap(buf, &map);
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                          ("Could not open recording segment %s", chunk.path.c_str()),
                          ("%s", g_strerror(errno)));
        return GST_FLOW_ERROR;
      }
    }
    const uint64_t in_chunk = pos - chunk.at;
    const size_t n = std::min<uint64_t>(want - done, chunk.size - in_chunk);
    const ssize_t r = pread(p->fd, map.data + done, n, static_cast<off_t>(chunk.from + in_chunk));
    if (r <= 0) {
      gst_buffer_unmap(buf, &map);
      GST_ELEMENT_ERROR(self, RESOURCE, READ,
                        ("Could not read recording segment %s (shorter than its manifest says?)",
                         chunk.path.c_str()),
                        ("%s", r < 0 ? g_strerror(errno) : "end of file"));
      return GST_FLOW_ERROR;
    }
    done += static_cast<size_t>(r);
  }
  gst_buffer_unmap(buf, &map);
  gst_buffer_set_size(buf, done);
  GST_BUFFER_OFFSET(buf) = offset;
  GST_BUFFER_OFFSET_END(buf) = offset + done;
  return GST_FLOW_OK;
}

uint64_t reader_set_chunks(GstElement *reader, std::vector<Chunk> chunks)
{
  ReaderPrivate *p = SUGARCAST_REPLAY_READER(reader)->priv;
  std::lock_guard lk(p->lock);
  p->chunks = std::move(chunks);
  p->size = p->chunks.empty() ? 0 : p->chunks.back().at + p->chunks.back().size;
  return p->size;
}

static void sugarcast_replay_reader_finalize(GObject *object)
{
  delete SUGARCAST_REPLAY_READER(object)->priv;
  G_OBJECT_CLASS(sugarcast_replay_reader_parent_class)->finalize(object);
}

static void sugarcast_replay_reader_class_init(SugarcastReplayReaderClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass *base_class = GST_BASE_SRC_CLASS(klass);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_replay_reader_finalize);
  base_class->get_size = SUGARCAST_GUARD(reader_get_size);
  base_class->is_seekable = SUGARCAST_GUARD(reader_is_seekable);
  base_class->stop = SUGARCAST_GUARD(reader_stop);
  base_class->fill = SUGARCAST_GUARD(reader_fill);
  gst_element_class_add_static_pad_template(element_class, &reader_src_template);
  gst_element_class_set_static_metadata(element_class, "Replay reader", "Source/File",
                                        "The segments of a recording as one MPEG-TS stream "
                                        "(inside replaysrc)",
                                        "Sugarcast");
}

static void sugarcast_replay_reader_init(SugarcastReplayReader *self)
{
  self->priv = new ReaderPrivate();
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_BYTES);
}
