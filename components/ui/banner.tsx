import type { ReactNode } from "react";
import { Button } from "./button";

type Tone = "info" | "warning" | "error" | "success";
const TONES: Record<Tone, string> = {
  info: "border-blue-200 bg-blue-50 text-blue-900",
  warning: "border-amber-300 bg-amber-50 text-amber-900",
  error: "border-red-300 bg-red-50 text-red-900",
  success: "border-emerald-300 bg-emerald-50 text-emerald-900",
};

/** A full-width message: errors the user must act on, demo notes, results. */
export function Banner({ tone = "info", title, children, actions }: { tone?: Tone; title?: ReactNode; children?: ReactNode; actions?: ReactNode }) {
  return (
    <div role={tone === "error" ? "alert" : "status"} className={`flex items-start justify-between gap-4 rounded-md border px-4 py-3 text-sm ${TONES[tone]}`}>
      <div>
        {title && <p className="font-semibold">{title}</p>}
        {children && <div className={title ? "mt-1" : ""}>{children}</div>}
      </div>
      {actions && <div className="shrink-0">{actions}</div>}
    </div>
  );
}

/**
 * "Are you sure?" for a step that cannot be taken back: a warning with a way out (`keepLabel`) and
 * the action itself (`confirmLabel`, danger). Either choice closes it first.
 */
export function ConfirmBanner({
  title,
  keepLabel,
  confirmLabel,
  onClose,
  onConfirm,
  children,
}: {
  title: ReactNode;
  keepLabel: string;
  confirmLabel: string;
  onClose: () => void;
  onConfirm: () => void;
  children?: ReactNode;
}) {
  return (
    <Banner
      tone="warning"
      title={title}
      actions={
        <span className="flex gap-2">
          <Button variant="secondary" onClick={onClose}>
            {keepLabel}
          </Button>
          <Button
            variant="danger"
            onClick={() => {
              onClose();
              onConfirm();
            }}
          >
            {confirmLabel}
          </Button>
        </span>
      }
    >
      {children}
    </Banner>
  );
}
