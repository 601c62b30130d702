#include "LoraTab.h"

#include "LoraPairModel.h"
#include "TableColumns.h"
#include "TableExport.h"
#include "UiText.h"

#include "Widgets.h"

#include <QCheckBox>
#include <QColor>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>

namespace lms::ui {

LoraTab::LoraTab(QWidget* parent)
    : QWidget(parent), m_model(new LoraPairModel(this)), m_filter(new LoraPairFilterModel(this)) {
    setObjectName(QStringLiteral("loraTab"));
    m_filter->setSourceModel(m_model);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    m_countsLabel = new QLabel(this);
    m_countsLabel->setObjectName(QStringLiteral("loraCountsLabel"));
    m_countsLabel->setWordWrap(true);
    layout->addWidget(m_countsLabel);

    auto* bar = new QToolBar(this);
    bar->setObjectName(QStringLiteral("loraToolBar"));
    bar->setMovable(false);
    bar->setFloatable(false);
    m_problemsOnly = new QCheckBox(tr("Only pairs with problems"), this);
    m_problemsOnly->setObjectName(QStringLiteral("loraProblemsOnlyCheck"));
    auto* orientationLabel = new QLabel(tr("Square base weights are stored as"), this);
    m_orientation = new QComboBox(this);
    m_orientation->setObjectName(QStringLiteral("squareOrientationCombo"));
    m_orientation->addItem(tr("[out, in] (MindFormers default)"), int(SquareOrientation::OutIn));
    m_orientation->addItem(tr("[in, out] (transpose_b=False)"), int(SquareOrientation::InOut));
    m_orientation->setToolTip(
        tr("The shape cannot tell how a square weight is oriented; MindFormers layers store "
           "[out, in] unless built with transpose_b=False."));
    orientationLabel->setBuddy(m_orientation);
    // Both may shrink (the label wraps, the choice elides) so a narrow centre needs no scrolling.
    orientationLabel->setWordWrap(true);
    m_orientation->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_orientation->setMinimumContentsLength(12);
    m_includeAll = new QPushButton(tr("Include all"), this);
    m_includeAll->setObjectName(QStringLiteral("loraIncludeAllButton"));
    m_excludeAll = new QPushButton(tr("Leave all out"), this);
    m_excludeAll->setObjectName(QStringLiteral("loraExcludeAllButton"));
    // A tool bar, not a row of widgets: what does not fit a narrow centre (200 % on a small
    // screen) moves into its » menu instead of widening the window.
    bar->addWidget(m_problemsOnly);
    auto* spacer = new QWidget(bar);
    spacer->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    bar->addWidget(spacer);
    bar->addWidget(m_includeAll);
    bar->addWidget(m_excludeAll);
    layout->addWidget(bar);
    auto* orientationRow = new QHBoxLayout;
    orientationRow->addWidget(orientationLabel);
    orientationRow->addWidget(m_orientation, 1);
    layout->addLayout(orientationRow);

    m_emptyLabel = new QLabel(this);
    m_emptyLabel->setObjectName(QStringLiteral("loraEmptyLabel"));
    m_emptyLabel->setWordWrap(true);
    m_emptyLabel->setAlignment(Qt::AlignCenter);
    m_emptyLabel->setForegroundRole(QPalette::PlaceholderText);
    m_emptyLabel->setMargin(24);
    layout->addWidget(m_emptyLabel);

    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("loraView"));
    m_view->setModel(m_filter);
    setUpRowTable(m_view, 8);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    m_view->setSortingEnabled(true);
    // Status next to the base weight, so "will be merged" / the problem is visible without scrolling
    // on a narrow screen (the model's column order, which exports use, is unchanged).
    m_view->horizontalHeader()->moveSection(LoraPairModel::StatusColumn, 1);
    makeColumnsUsable(m_view, m_view->horizontalHeader(), LoraPairModel::BaseColumn,
                      QStringLiteral("loraPairs"));
    addExportActions(m_view, QStringLiteral("lora-plan"));
    layout->addWidget(m_view, 1);

    connect(m_problemsOnly, &QCheckBox::toggled, m_filter, &LoraPairFilterModel::setProblemsOnly);
    connect(m_orientation, &QComboBox::currentIndexChanged, this, &LoraTab::planOptionsChanged);
    connect(m_model, &LoraPairModel::disabledBasesChanged, this, &LoraTab::planOptionsChanged);
    connect(m_includeAll, &QPushButton::clicked, this, [this] { m_model->setAllIncluded(true); });
    connect(m_excludeAll, &QPushButton::clicked, this, [this] { m_model->setAllIncluded(false); });
    connect(m_view, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
        const auto source = m_filter->mapToSource(index);
        QString name =
            source.siblingAtColumn(LoraPairModel::BaseColumn).data(LoraPairModel::RawValueRole).toString();
        if (index.column() == LoraPairModel::AColumn || index.column() == LoraPairModel::BColumn)
            name = source.data(LoraPairModel::RawValueRole).toString();
        if (!name.isEmpty()) emit showTensorRequested(name);
    });
    clear();
}

PlanOptions LoraTab::planOptions() const {
    PlanOptions options;
    options.squareOrientation = SquareOrientation(m_orientation->currentData().toInt());
    for (const auto& base : m_model->disabledBases()) options.disabledBases.push_back(base.toStdString());
    return options;
}

void LoraTab::setPlan(const LoraPlan& plan) {
    m_model->setPlan(plan);
    updateCounts();
}

void LoraTab::clear() {
    m_model->setPlan({});
    updateCounts();
}

void LoraTab::updateCounts() {
    const auto& plan = m_model->plan();
    const size_t pairs = plan.pairs.size();
    const bool empty = pairs == 0;
    m_view->setVisible(!empty);
    m_emptyLabel->setVisible(empty);
    m_includeAll->setEnabled(!empty);
    m_excludeAll->setEnabled(!empty);
    m_problemsOnly->setEnabled(plan.problemPairs > 0 || m_problemsOnly->isChecked());
    if (empty) {
        m_countsLabel->clear();
        m_emptyLabel->setText(plan.roles.empty()
                                  ? tr("Open a checkpoint to see its LoRA pairs.")
                                  : tr("This checkpoint holds no LoRA weights (no names ending in "
                                       "mindpet_delta_lora_a/_b, tk_delta_lora_a/_b, lora_A/B.weight or "
                                       ".lora_a/.lora_b). A merge would copy it unchanged."));
        return;
    }
    QString text =
        tr("<b>%n LoRA pair(s)</b>: ", nullptr, int(pairs)) + tr("%n to merge", nullptr, int(plan.okPairs));
    if (plan.disabledPairs) text += tr(", %n left out", nullptr, int(plan.disabledPairs));
    if (plan.problemPairs)
        text += QStringLiteral(", <span style='color:%1'><b>").arg(QColor(0xda, 0x44, 0x53).name()) +
                tr("%n with a problem", nullptr, int(plan.problemPairs)) + QStringLiteral("</b></span>");
    text += QStringLiteral(". ") + tr("%1 parameters (%2) will be written.")
                                       .arg(countText(plan.tensorsToWrite), bytesText(plan.bytesToWrite));
    m_countsLabel->setText(text);
}

}  // namespace lms::ui
