/* Sugarcast — the names giftoverlay shares with the pipelines and the daemon
 * that feed it (header-only, plain C).
 *
 * - SUGARCAST_GIFT_CAPS: buffers on giftoverlay's `gift_sink` request pad,
 *   each one gift event as JSON (see plugins/gift/core/giftevent.h), its PTS
 *   the time the gift is due.
 * - SUGARCAST_GIFT_SHOWN_MESSAGE: the element message giftoverlay posts for
 *   every gift on the frame it first appears on:
 *     gift-shown, id=(string), gift=(string), user=(string), count=(guint64),
 *       combo=(boolean), running-time=(guint64),
 *       x=(int), y=(int), width=(int), height=(int)   the banner at rest
 * - SUGARCAST_GIFT_DATERANGE_CLASS: the CLASS of the sugarcast-daterange
 *   event (daterange.h) giftoverlay sends downstream for the same gift, with
 *   attributes X-GIFT, X-USER, X-COUNT (the gift's count), X-COMBO (the
 *   banner's count once it is on it), X-NAME (when the event has a name) and
 *   the event's own `attributes`.
 */
#ifndef SUGARCAST_GIFT_H
#define SUGARCAST_GIFT_H

#define SUGARCAST_GIFT_CAPS "application/x-sugarcast-gift"
#define SUGARCAST_GIFT_SHOWN_MESSAGE "gift-shown"
#define SUGARCAST_GIFT_DATERANGE_CLASS "com.sugarcast.gift"

#endif /* SUGARCAST_GIFT_H */
