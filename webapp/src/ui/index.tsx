/**
 * A small Telegram-looking component set (sections, cells, switches, buttons, states), styled only with the
 * client's theme variables (--tg-theme-*) in styles.css, light and dark. No inline styles: the CSP forbids them.
 */
import { type ChangeEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError, isUnavailable } from '../api.ts';
import { haptic } from '../sdk.ts';
import { Icon, type IconName } from './icons.tsx';

export { Icon, type IconName };

export type Tone = 'blue' | 'green' | 'orange' | 'violet' | 'teal' | 'red' | 'gray';

export function Page({
  title,
  subtitle,
  children,
  testId,
}: {
  title: string;
  subtitle?: string;
  children: ReactNode;
  testId: string;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  // A new screen moves focus to its title, so screen readers announce where the user is.
  useEffect(() => {
    heading.current?.focus({ preventScroll: true });
  }, []);
  return (
    <main className="app" data-testid={testId} aria-labelledby={`${testId}-title`}>
      <header className="app-header">
        <h1 className="app-title" id={`${testId}-title`} ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {subtitle ? <p className="app-subtitle">{subtitle}</p> : null}
      </header>
      {children}
    </main>
  );
}

export function Section({
  title,
  footer,
  children,
  testId,
}: {
  title?: string;
  footer?: ReactNode;
  children: ReactNode;
  testId?: string;
}) {
  const id = useId();
  return (
    <section className="section" aria-labelledby={title ? id : undefined} data-testid={testId}>
      {title ? (
        <h2 className="section-header" id={id}>
          {title}
        </h2>
      ) : null}
      <ul className="section-card">{children}</ul>
      {footer ? <p className="section-footer">{footer}</p> : null}
    </section>
  );
}

/** A block inside a section that is not a list row (forms, text, charts). */
export function Block({ children, className }: { children: ReactNode; className?: string }) {
  return <li className={className ? `block ${className}` : 'block'}>{children}</li>;
}

export interface CellProps {
  title: ReactNode;
  subtitle?: ReactNode;
  hint?: ReactNode;
  icon?: IconName;
  tone?: Tone;
  after?: ReactNode;
  onClick?: () => void;
  destructive?: boolean;
  chevron?: boolean;
  disabled?: boolean;
  testId?: string;
  label?: string;
}

export function Cell(props: CellProps) {
  const { title, subtitle, hint, icon, tone = 'blue', after, onClick, destructive, chevron, disabled } = props;
  const className = destructive ? 'cell cell--destructive' : 'cell';
  const content = (
    <>
      {icon ? (
        <span className={`cell-icon cell-icon--${tone}`}>
          <Icon name={icon} />
        </span>
      ) : null}
      <span className="cell-body">
        <span className="cell-text">
          <span className="cell-title">{title}</span>
          {subtitle ? <span className="cell-subtitle">{subtitle}</span> : null}
        </span>
        {hint !== undefined ? <span className="cell-hint">{hint}</span> : null}
        {after}
        {chevron ? <Icon name="chevron" className="cell-chevron" /> : null}
      </span>
    </>
  );
  return (
    <li>
      {onClick ? (
        <button
          type="button"
          className={className}
          onClick={() => {
            haptic.selection();
            onClick();
          }}
          disabled={disabled}
          data-testid={props.testId}
          aria-label={props.label}
        >
          {content}
        </button>
      ) : (
        <div className={className} data-testid={props.testId}>
          {content}
        </div>
      )}
    </li>
  );
}

/** A row with a switch; the whole row is the label, so it is one big target. */
export function SwitchCell({
  title,
  subtitle,
  checked,
  disabled,
  busy,
  onChange,
  testId,
}: {
  title: string;
  subtitle?: ReactNode;
  checked: boolean;
  disabled?: boolean;
  busy?: boolean;
  onChange: (checked: boolean) => void;
  testId?: string;
}) {
  const id = useId();
  return (
    <li>
      <label className="cell switch-cell" htmlFor={id}>
        <span className="cell-body">
          <span className="cell-text">
            <span className="cell-title">{title}</span>
            {subtitle ? <span className="cell-subtitle">{subtitle}</span> : null}
          </span>
          <input
            id={id}
            type="checkbox"
            role="switch"
            className="switch"
            checked={checked}
            aria-checked={checked}
            disabled={disabled || busy}
            aria-busy={busy || undefined}
            data-testid={testId}
            onChange={(event: ChangeEvent<HTMLInputElement>) => {
              haptic.selection();
              onChange(event.target.checked);
            }}
          />
        </span>
      </label>
    </li>
  );
}

export function Button({
  children,
  onClick,
  variant = 'primary',
  disabled,
  busy,
  type = 'button',
  testId,
  wide = true,
}: {
  children: ReactNode;
  onClick?: () => void;
  variant?: 'primary' | 'secondary' | 'destructive' | 'plain';
  disabled?: boolean;
  busy?: boolean;
  type?: 'button' | 'submit';
  testId?: string;
  wide?: boolean;
}) {
  return (
    <button
      type={type}
      className={`button button--${variant}${wide ? ' button--wide' : ''}`}
      onClick={
        onClick
          ? () => {
              haptic.impact('light');
              onClick();
            }
          : undefined
      }
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      data-testid={testId}
    >
      {busy ? <Spinner small /> : null}
      <span>{children}</span>
    </button>
  );
}

export function TextField({
  label,
  value,
  onChange,
  placeholder,
  inputMode,
  autoComplete,
  maxLength,
  testId,
  hint,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  inputMode?: 'numeric' | 'text';
  autoComplete?: string;
  maxLength?: number;
  testId?: string;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        className="field-input"
        value={value}
        placeholder={placeholder}
        inputMode={inputMode}
        autoComplete={autoComplete ?? 'off'}
        maxLength={maxLength}
        spellCheck={false}
        data-testid={testId}
        aria-describedby={hint ? `${id}-hint` : undefined}
        onChange={(event) => onChange(event.target.value)}
      />
      {hint ? (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function Spinner({ small }: { small?: boolean }) {
  return <span className={small ? 'spinner spinner--small' : 'spinner'} aria-hidden="true" />;
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state--loading" role="status" data-testid="state-loading">
      <Spinner />
      <span className="state-text">{label}</span>
    </div>
  );
}

export function Empty({ title, text, icon = 'check' }: { title: string; text?: string; icon?: IconName }) {
  return (
    <div className="state" data-testid="state-empty">
      <Icon name={icon} className="state-icon" />
      <p className="state-title">{title}</p>
      {text ? <p className="state-text">{text}</p> : null}
    </div>
  );
}

/** What a person should read for an error: the server's message, or a plain one. Never JSON or a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403 && error.code === 'PERMISSION_DENIED') return 'You do not have access to this.';
    return error.message;
  }
  return 'Something went wrong. Try again.';
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (isUnavailable(error)) {
    return (
      <div className="state" data-testid="state-unavailable">
        <Icon name="lock" className="state-icon" />
        <p className="state-title">Not available yet</p>
        <p className="state-text">This server does not offer this feature yet.</p>
      </div>
    );
  }
  return (
    <div className="state state--error" role="alert" data-testid="state-error">
      <Icon name="alert" className="state-icon" />
      <p className="state-title">Could not load this</p>
      <p className="state-text">{errorMessage(error)}</p>
      {onRetry ? (
        <Button variant="secondary" onClick={onRetry} wide={false}>
          Try again
        </Button>
      ) : null}
    </div>
  );
}

/** A short message after an action; announced politely by screen readers. */
export function Notice({ tone = 'info', children }: { tone?: 'info' | 'success' | 'error'; children: ReactNode }) {
  return (
    <p className={`notice notice--${tone}`} role={tone === 'error' ? 'alert' : 'status'} data-testid={`notice-${tone}`}>
      {children}
    </p>
  );
}

/** A secret shown once (an API key, backup codes) with a copy button. */
export function SecretBox({ label, value, testId }: { label: string; value: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="secret">
      <p className="secret-label">{label}</p>
      <code className="secret-value" data-testid={testId}>
        {value}
      </code>
      <Button
        variant="secondary"
        wide={false}
        onClick={() => {
          void navigator.clipboard
            ?.writeText(value)
            .then(() => {
              setCopied(true);
              haptic.notify('success');
            })
            .catch(() => setCopied(false));
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </Button>
    </div>
  );
}

export function Badge({ tone, children }: { tone: 'green' | 'orange' | 'red' | 'gray' | 'blue'; children: ReactNode }) {
  return <span className={`badge badge--${tone}`}>{children}</span>;
}
