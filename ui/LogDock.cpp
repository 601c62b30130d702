#include "LogDock.h"

#include "TableColumns.h"
#include "Widgets.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QScrollBar>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

namespace lms::ui {

LogDock::LogDock(LogModel* model, QWidget* parent)
    : QDockWidget(tr("Log"), parent), m_model(model), m_filter(new LogFilterModel(this)) {
    setObjectName(QStringLiteral("logDock"));
    setAllowedAreas(Qt::BottomDockWidgetArea | Qt::TopDockWidgetArea | Qt::RightDockWidgetArea);
    m_filter->setSourceModel(model);

    auto* body = new QWidget(this);
    auto* layout = new QVBoxLayout(body);
    layout->setContentsMargins(4, 2, 4, 4);
    layout->setSpacing(4);

    auto* bar = new QHBoxLayout;
    auto* levelLabel = new QLabel(tr("Show:"), body);
    m_levelCombo = new QComboBox(body);
    m_levelCombo->setObjectName(QStringLiteral("logLevelCombo"));
    for (auto level : {LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error})
        m_levelCombo->addItem(tr("%1 and above").arg(logLevelText(level)), int(level));
    m_levelCombo->setCurrentIndex(m_levelCombo->findData(int(LogLevel::Info)));
    levelLabel->setBuddy(m_levelCombo);
    auto* copyButton = new QToolButton(body);
    copyButton->setObjectName(QStringLiteral("logCopyButton"));
    copyButton->setText(tr("Copy"));
    copyButton->setToolTip(tr("Copy the whole log to the clipboard"));
    auto* clearButton = new QToolButton(body);
    clearButton->setObjectName(QStringLiteral("logClearButton"));
    clearButton->setText(tr("Clear"));
    bar->addWidget(levelLabel);
    bar->addWidget(m_levelCombo);
    bar->addStretch(1);
    bar->addWidget(copyButton);
    bar->addWidget(clearButton);
    layout->addLayout(bar);

    m_view = new QTableView(body);
    m_view->setObjectName(QStringLiteral("logView"));
    m_view->setModel(m_filter);
    setUpRowTable(m_view, 6);
    makeColumnsUsable(m_view, m_view->horizontalHeader(), LogModel::MessageColumn, QStringLiteral("log"));
    layout->addWidget(m_view);
    setWidget(body);

    connect(m_levelCombo, &QComboBox::currentIndexChanged, this,
            [this] { m_filter->setMinimumLevel(LogLevel(m_levelCombo->currentData().toInt())); });
    connect(clearButton, &QToolButton::clicked, m_model, &LogModel::clear);
    connect(copyButton, &QToolButton::clicked, this,
            [this] { QApplication::clipboard()->setText(m_model->text()); });
    // Follow new records only while the person has not scrolled up to read older ones.
    connect(m_view->verticalScrollBar(), &QScrollBar::valueChanged, this,
            [this](int value) { m_followTail = value >= m_view->verticalScrollBar()->maximum(); });
    connect(m_filter, &QAbstractItemModel::rowsInserted, this, &LogDock::scrollIfAtBottom);
}

void LogDock::setMinimumLevel(LogLevel level) {
    const int index = m_levelCombo->findData(int(level));
    if (index >= 0) m_levelCombo->setCurrentIndex(index);
}

void LogDock::scrollIfAtBottom() {
    if (m_followTail) m_view->scrollToBottom();
}

}  // namespace lms::ui
