#include "models/status_colors.hpp"

#include <QGuiApplication>

#include <cmath>

namespace dlb::console {

namespace {

double channel(double c)
{
    return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}

double luminance(const QColor& c)
{
    const QColor rgb = c.toRgb();
    return 0.2126 * channel(rgb.redF()) + 0.7152 * channel(rgb.greenF()) + 0.0722 * channel(rgb.blueF());
}

} // namespace

bool isDarkPalette(const QPalette& palette)
{
    return luminance(palette.color(QPalette::Window)) < luminance(palette.color(QPalette::WindowText));
}

QColor statusColor(Status status, const QPalette& palette)
{
    // Material's 800 shades on light backgrounds, its 300 shades on dark ones: each at least
    // kMinStatusContrast from white, respectively from the usual dark bases (#1e1e1e..#353535).
    const bool dark = isDarkPalette(palette);
    switch (status) {
    case Status::Good:
        return dark ? QColor(0x81, 0xc7, 0x84) : QColor(0x2e, 0x7d, 0x32);
    case Status::Bad:
        return dark ? QColor(0xef, 0x9a, 0x9a) : QColor(0xc6, 0x28, 0x28);
    case Status::Warning:
        return dark ? QColor(0xff, 0xb7, 0x4d) : QColor(0xbf, 0x36, 0x0c);
    case Status::Info:
        return dark ? QColor(0x64, 0xb5, 0xf6) : QColor(0x15, 0x65, 0xc0);
    }
    return palette.color(QPalette::Text);
}

QColor statusColor(Status status)
{
    return statusColor(status, QGuiApplication::palette());
}

double contrastRatio(const QColor& a, const QColor& b)
{
    const double la = luminance(a), lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

} // namespace dlb::console
