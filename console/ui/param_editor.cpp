#include "ui/param_editor.hpp"

#include <cmath>

namespace dlb::console {
namespace {

// Enough to carry every value the agent shows (they are written with few digits) through the
// spin box unchanged; textFromValue hides the trailing zeros.
constexpr int kFractionDigits = 9;

QString fromStd(const std::string& s) { return QString::fromStdString(s); }

} // namespace

ParamSpinBox::ParamSpinBox(const common::ParamSpec& spec, QWidget* parent) : QDoubleSpinBox(parent)
{
    setObjectName(QString::fromUtf8(spec.name.data(), static_cast<qsizetype>(spec.name.size())));
    // The config's own notation, whatever the desktop's locale: 0.84, never 0,84.
    setLocale(QLocale::c());
    setDecimals(spec.integer ? 0 : kFractionDigits);
    setRange(spec.min, spec.max);
    // A step of about a hundredth of the range, rounded to a power of ten: 0.01 for [0,1].
    const double span = spec.max - spec.min;
    setSingleStep(spec.integer ? 1.0 : std::pow(10.0, std::floor(std::log10(span)) - 2));
    setValue(spec.def);
    setToolTip(QString::fromUtf8(spec.help.data(), static_cast<qsizetype>(spec.help.size())));
    setAccelerated(true);
    setKeyboardTracking(true);
}

QString ParamSpinBox::textFromValue(double value) const { return fromStd(common::formatNumber(value)); }

QString describeRange(const common::ParamSpec& spec)
{
    QString text = QObject::tr("range %1, default %2")
                       .arg(fromStd(common::formatRange(spec)), fromStd(common::formatNumber(spec.def)));
    if (spec.prime)
        text += QObject::tr("; a prime");
    else if (spec.integer)
        text += QObject::tr("; whole number");
    return text;
}

} // namespace dlb::console
