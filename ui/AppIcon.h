#pragma once
// The application icon from resources/: the SVG when Qt's SVG plugin is installed, and the
// pre-rendered PNG sizes (16–256 px) always, so the icon never goes missing.

#include <QIcon>

namespace lms::ui {

QIcon appIcon();

}  // namespace lms::ui
