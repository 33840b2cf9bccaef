#pragma once
// The console's status colours (health, errors, Prequal standing), readable on the palette in
// use: the system's light or dark one. No widgets: models return these for Qt::ForegroundRole,
// and the pages use them for their messages.
//
// Dark or light is read from the palette, not from a style hint (Qt 6.4's QStyleHints has no
// colorScheme): the platform theme (KDE, GNOME through gtk3 or qt6ct, or -platformtheme) hands
// the application its palette, so a window darker than its text is a dark palette.

#include <QColor>
#include <QPalette>

namespace dlb::console {

enum class Status { Good, Bad, Warning, Info };

// Window lighter than its text: false. Decided from the palette's Window and WindowText.
bool isDarkPalette(const QPalette& palette);
// The colour for `status` on `palette` (default: the application's palette now).
QColor statusColor(Status status, const QPalette& palette);
QColor statusColor(Status status);
// WCAG 2 contrast ratio of two colours, 1..21: what the tests hold status text to.
double contrastRatio(const QColor& a, const QColor& b);
// Status text must stand out from the background it is drawn on at least this much (WCAG's AA
// for normal text).
constexpr double kMinStatusContrast = 4.5;

} // namespace dlb::console
