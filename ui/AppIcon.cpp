#include "AppIcon.h"

#include <QFile>
#include <QImageReader>

// The icons live in lms_ui, a static library: its resources must be registered by name, and
// Q_INIT_RESOURCE only works outside a namespace.
static void initStudioResources() {
    Q_INIT_RESOURCE(resources);
}

namespace lms::ui {

QIcon appIcon() {
    static const bool registered = (initStudioResources(), true);
    Q_UNUSED(registered);
    QIcon icon;
    for (int size : {16, 24, 32, 48, 64, 128, 256})
        icon.addFile(QStringLiteral(":/icons/loramerge-studio-%1.png").arg(size), QSize(size, size));
    if (QImageReader::supportedImageFormats().contains("svg"))
        icon.addFile(QStringLiteral(":/loramerge-studio.svg"));
    return icon;
}

}  // namespace lms::ui
