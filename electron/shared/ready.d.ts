// Types of electron/shared/ready.js.
export declare const READY_LINE: string;
