/**
 * A message box as data: what to say and which action each button stands for. Logic builds
 * prompts (and tests read them); the desktop edge shows them with Electron's dialog.showMessageBox.
 */
export interface Prompt<A extends string> {
  type: 'info' | 'warning' | 'error' | 'question';
  title: string;
  /** One sentence: what happened. */
  message: string;
  /** What it means and what each button does. */
  detail: string;
  /** In display order; the first is the default. */
  buttons: { label: string; action: A }[];
  /** The action of Esc or closing the box. */
  cancelAction: A;
}

/** Shows a prompt and resolves to the chosen action. */
export type ShowPrompt = <A extends string>(prompt: Prompt<A>) => Promise<A>;

/** Electron's MessageBoxOptions for a prompt (the fields used here). */
export interface MessageBoxFields {
  type: Prompt<string>['type'];
  title: string;
  message: string;
  detail: string;
  buttons: string[];
  defaultId: number;
  cancelId: number;
  noLink: boolean;
}

export function messageBoxOptions<A extends string>(prompt: Prompt<A>): MessageBoxFields {
  const cancelId = prompt.buttons.findIndex((b) => b.action === prompt.cancelAction);
  return {
    type: prompt.type,
    title: prompt.title,
    message: prompt.message,
    detail: prompt.detail,
    buttons: prompt.buttons.map((b) => b.label),
    defaultId: 0,
    // -1 would make Esc pick the default button on some platforms; the last button is the safe way out.
    cancelId: cancelId >= 0 ? cancelId : prompt.buttons.length - 1,
    noLink: true,
  };
}

/** The action of the button at `response` (Electron's MessageBoxReturnValue.response). */
export function actionOf<A extends string>(prompt: Prompt<A>, response: number): A {
  return prompt.buttons[response]?.action ?? prompt.cancelAction;
}
