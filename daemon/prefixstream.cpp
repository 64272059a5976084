/* sugarcastd — a connection handed to libsoup after some of it was read.
 * See prefixstream.h. */
#include "prefixstream.h"

#include <cstring>

namespace sugarcast {

namespace {

struct PrefixInputStream
{
  GInputStream parent;
  GIOStream *connection; /* owned */
  GInputStream *base;    /* the connection's */
  std::string *prefix;   /* owned */
  size_t offset;
};

struct PrefixInputStreamClass
{
  GInputStreamClass parent_class;
};

GType prefix_input_stream_get_type();
void prefix_input_stream_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(PrefixInputStream, prefix_input_stream, G_TYPE_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              prefix_input_stream_pollable_init))

PrefixInputStream *self_of(gpointer stream)
{
  return G_TYPE_CHECK_INSTANCE_CAST(stream, prefix_input_stream_get_type(), PrefixInputStream);
}

size_t left(PrefixInputStream *self)
{
  return self->prefix->size() - self->offset;
}

gssize take_prefix(PrefixInputStream *self, void *buffer, gsize count)
{
  const size_t n = std::min(count, left(self));
  std::memcpy(buffer, self->prefix->data() + self->offset, n);
  self->offset += n;
  if (left(self) == 0) {
    self->prefix->clear();
    self->prefix->shrink_to_fit();
    self->offset = 0;
  }
  return static_cast<gssize>(n);
}

gssize prefix_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                   GError **error)
{
  PrefixInputStream *self = self_of(stream);
  if (left(self) > 0)
    return take_prefix(self, buffer, count);
  return g_input_stream_read(self->base, buffer, count, cancellable, error);
}

gboolean prefix_close(GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return g_io_stream_close(self_of(stream)->connection, cancellable, error);
}

gboolean prefix_can_poll(GPollableInputStream *)
{
  return TRUE;
}

gboolean prefix_is_readable(GPollableInputStream *stream)
{
  PrefixInputStream *self = self_of(stream);
  return left(self) > 0 || g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(self->base));
}

GSource *prefix_create_source(GPollableInputStream *stream, GCancellable *cancellable)
{
  PrefixInputStream *self = self_of(stream);
  /* Readable at once while bytes remain; then when the socket is. */
  GSource *base =
      left(self) > 0
          ? g_timeout_source_new(0)
          : g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(self->base), cancellable);
  GSource *source = g_pollable_source_new_full(stream, base, cancellable);
  g_source_unref(base);
  return source;
}

gssize prefix_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
                               GError **error)
{
  PrefixInputStream *self = self_of(stream);
  if (left(self) > 0)
    return take_prefix(self, buffer, count);
  return g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base), buffer,
                                                  count, nullptr, error);
}

void prefix_input_stream_pollable_init(GPollableInputStreamInterface *iface)
{
  iface->can_poll = prefix_can_poll;
  iface->is_readable = prefix_is_readable;
  iface->create_source = prefix_create_source;
  iface->read_nonblocking = prefix_read_nonblocking;
}

void prefix_finalize(GObject *object)
{
  PrefixInputStream *self = self_of(object);
  delete self->prefix;
  g_clear_object(&self->connection);
  G_OBJECT_CLASS(prefix_input_stream_parent_class)->finalize(object);
}

void prefix_input_stream_class_init(PrefixInputStreamClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = prefix_finalize;
  G_INPUT_STREAM_CLASS(klass)->read_fn = prefix_read;
  G_INPUT_STREAM_CLASS(klass)->close_fn = prefix_close;
}

void prefix_input_stream_init(PrefixInputStream *self)
{
  self->prefix = new std::string();
}

} // namespace

GIOStream *prefixed_io_stream_new(GIOStream *connection, std::string already_read)
{
  auto *input = self_of(g_object_new(prefix_input_stream_get_type(), nullptr));
  input->connection = G_IO_STREAM(g_object_ref(connection));
  input->base = g_io_stream_get_input_stream(connection);
  *input->prefix = std::move(already_read);
  GIOStream *stream =
      g_simple_io_stream_new(G_INPUT_STREAM(input), g_io_stream_get_output_stream(connection));
  g_object_unref(input);
  return stream;
}

} // namespace sugarcast
